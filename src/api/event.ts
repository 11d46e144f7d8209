import { Type, type Static } from '@sinclair/typebox';
import type { Network } from './network.ts';
import type { Node } from './node.ts';
import type { Config, Secret } from './secret.ts';
import type { Service } from './service.ts';
import type { Stack } from './stack.ts';
import type { Task } from './task.ts';

/**
 * The kinds of object `GET /v1/events` streams. A secret's event carries its metadata only
 * (never its sealed data), like `GET /v1/secrets`.
 */
export const EVENT_KINDS = ['node', 'service', 'task', 'network', 'secret', 'config', 'stack'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/**
 * A committed change to the cluster state, as `GET /v1/events` sends it (the `data:` of one
 * Server-Sent Event whose `id:` is `revision`). A client that reconnects with
 * `Last-Event-ID: <revision>` (or `?since=<revision>`) gets every change after it.
 */
export const ClusterEventSchema = Type.Object({
  revision: Type.Integer({ minimum: 1 }),
  kind: Type.Union(EVENT_KINDS.map((k) => Type.Literal(k))),
  action: Type.Union([Type.Literal('create'), Type.Literal('update'), Type.Literal('delete')]),
  /** The object after the change; for a delete, the object as it was. */
  object: Type.Unknown(),
});
export type ClusterEventAction = Static<typeof ClusterEventSchema>['action'];

/** The typed form of {@link ClusterEventSchema}. */
export type ClusterEvent =
  | { revision: number; kind: 'node'; action: ClusterEventAction; object: Node }
  | { revision: number; kind: 'service'; action: ClusterEventAction; object: Service }
  | { revision: number; kind: 'task'; action: ClusterEventAction; object: Task }
  | { revision: number; kind: 'network'; action: ClusterEventAction; object: Network }
  | { revision: number; kind: 'secret'; action: ClusterEventAction; object: Secret }
  | { revision: number; kind: 'config'; action: ClusterEventAction; object: Config }
  | { revision: number; kind: 'stack'; action: ClusterEventAction; object: Stack };

/** Query of `GET /v1/events`. */
export const EventQuery = Type.Object(
  {
    since: Type.Optional(Type.Integer({ minimum: 0, description: 'Send every change after this revision first (resume).' })),
    kinds: Type.Optional(Type.String({ description: `Comma-separated kinds to send: ${EVENT_KINDS.join(', ')}. Default all.` })),
  },
  { additionalProperties: false },
);
export type EventQuery = Static<typeof EventQuery>;
