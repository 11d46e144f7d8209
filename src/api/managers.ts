import { Type, type Static } from '@sinclair/typebox';

/** One manager taking part in the cluster now (see `ManagerMember` in `manager/leader/leadership.ts`). */
export const ManagerEntry = Type.Object(
  {
    /** The manager's own id (stable across restarts of its data dir). */
    id: Type.String(),
    /** The node of the agent running beside it, if any. */
    nodeId: Type.Optional(Type.String()),
    /** Where agents and clients reach it: `host:port` of its HTTPS listener. */
    addr: Type.String(),
    /** Whether it leads now. */
    leader: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type ManagerEntry = Static<typeof ManagerEntry>;

/**
 * `GET /v1/managers`: every manager taking part now, as the answering manager sees them (any
 * manager answers, the leader included in the list with `leader: true`). Clients keep the
 * addresses to fail over between managers; agents get the same list on their session.
 */
export const ManagersResponse = Type.Object({ managers: Type.Array(ManagerEntry) }, { additionalProperties: false });
export type ManagersResponse = Static<typeof ManagersResponse>;

