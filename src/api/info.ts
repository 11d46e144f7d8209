import { Type, type Static } from '@sinclair/typebox';

/** `GET /v1/info`: who the manager is and a one-glance count of the cluster. */
export const Info = Type.Object({
  name: Type.Literal('flotilla'),
  version: Type.String(),
  /** The store revision this answer was read at. */
  revision: Type.Integer({ minimum: 0 }),
  startedAt: Type.String({ format: 'date-time' }),
  nodes: Type.Object({ total: Type.Integer(), ready: Type.Integer() }),
  services: Type.Integer(),
  tasks: Type.Object({ total: Type.Integer(), running: Type.Integer() }),
  /** Facts the composition root adds (data dir, driver, …). */
  manager: Type.Record(Type.String(), Type.String()),
});
export type Info = Static<typeof Info>;
