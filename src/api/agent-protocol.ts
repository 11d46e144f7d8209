import { FormatRegistry, Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { BuildOptions } from './build.ts';
import { ManagerEntry } from './managers.ts';
import { NetworkMap } from './network.ts';
import { NodeDescription } from './node.ts';
import { Task, TaskStatus } from './task.ts';

/**
 * The agent ↔ manager session protocol: JSON messages, one per WebSocket text frame (or one
 * per in-process delivery in tests). Every message has a `type`; each side validates what it
 * receives with `parseAgentMessage` / `parseManagerMessage` and drops the session on garbage.
 *
 * Flow: the agent sends `hello`; the manager answers `welcome` (with the node id, assigned
 * when the agent had none), the full `assignments` set and the node's `network-map`, followed
 * by incremental assignments and a new map whenever it changes.
 * The agent sends `heartbeat` every `heartbeatPeriodMs` and batched `status` reports, which
 * the manager acknowledges with `status-ack` once they are committed (or deliberately
 * ignored); unacknowledged reports are re-sent after a reconnect.
 * An agent with networking sends `containers` (its plain containers on attachable networks,
 * the whole set) after each welcome and whenever the set changes.
 *
 * Several managers (protocol 2): only the leader holds agent sessions. A follower refuses a
 * `hello` with an `error` coded `not_leader` that names the leader (when it knows one) and
 * lists every manager; a leader that stops leading ends its sessions with `leader_moved`
 * (the new leader named when known). The `welcome` lists every manager, and a `managers`
 * message follows whenever the list changes, so an agent knows where to go next. A manager
 * accepts protocols `MIN_PROTOCOL_VERSION`..`PROTOCOL_VERSION`; a protocol 1 agent gets no
 * `managers` message (the extra fields of `welcome` and `error` it does not read).
 */

/** The session endpoint on the manager's HTTP server. */
export const AGENT_SESSION_PATH = '/v1/agent/session';
/** The protocol this code speaks (2: the manager list, leader refusals). */
export const PROTOCOL_VERSION = 2;
/** The oldest agent protocol a manager still accepts (1: no manager list, no `managers` message). */
export const MIN_PROTOCOL_VERSION = 1;
/** The first protocol whose agents understand the `managers` message. */
export const MANAGERS_PROTOCOL_VERSION = 2;

export const LogLineSchema = Type.Object({
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  line: Type.String(),
  time: Type.Optional(Type.String()),
});

export const StatusUpdate = Type.Object({ taskId: Type.String(), status: TaskStatus });
export type StatusUpdate = Static<typeof StatusUpdate>;

// ---- agent → manager ----

export const HelloMessage = Type.Object({
  type: Type.Literal('hello'),
  protocol: Type.Integer(),
  /** Absent on the node's first contact: the manager assigns one. */
  nodeId: Type.Optional(Type.String({ minLength: 1 })),
  description: NodeDescription,
});
export const HeartbeatMessage = Type.Object({ type: Type.Literal('heartbeat') });
export const StatusMessage = Type.Object({
  type: Type.Literal('status'),
  /** Per-session sequence number the manager echoes in `status-ack`. */
  seq: Type.Integer({ minimum: 0 }),
  updates: Type.Array(StatusUpdate),
});
export const LogDataMessage = Type.Object({
  type: Type.Literal('log'),
  requestId: Type.String(),
  lines: Type.Array(LogLineSchema),
});
export const LogEndMessage = Type.Object({
  type: Type.Literal('log-end'),
  requestId: Type.String(),
  /** Set when the logs could not be read ("no such task on this node"). */
  error: Type.Optional(Type.String()),
});

/**
 * The plain containers (`docker run --network`) on the node's attachable networks: the whole
 * set, sent after each `welcome` and whenever it changes. Each entry is an `AttachedContainer`;
 * the wire does not check them (a bad one would fail the whole message and close the session):
 * the manager keeps the valid ones (`validAttachedContainers`).
 */
export const ContainersMessage = Type.Object({
  type: Type.Literal('containers'),
  containers: Type.Array(Type.Unknown()),
});
export type ContainersMessage = Static<typeof ContainersMessage>;

/**
 * Reads part of a blob the manager holds (docs/builds.md): a built image's archive (`image`,
 * its ref) before a task using it is created, or the context of a build this node was handed
 * (`build`, its id). The manager answers with one `blob-chunk`.
 */
export const BlobReadMessage = Type.Object({
  type: Type.Literal('blob-read'),
  requestId: Type.String({ minLength: 1 }),
  image: Type.Optional(Type.String({ minLength: 1 })),
  build: Type.Optional(Type.String({ minLength: 1 })),
  offset: Type.Integer({ minimum: 0 }),
});
/** Lines of a build's progress, as the engine reports them. */
export const BuildProgressMessage = Type.Object({ type: Type.Literal('build-progress'), buildId: Type.String(), lines: Type.Array(Type.String()) });
/** A piece of the built image's archive (`docker save`), base64, in order; the manager acks each. */
export const BuildBlobMessage = Type.Object({ type: Type.Literal('build-blob'), buildId: Type.String(), seq: Type.Integer({ minimum: 0 }), data: Type.String() });
/** The build ended: after the last `build-blob`, or with the error (and the failing step). */
export const BuildEndMessage = Type.Object({
  type: Type.Literal('build-end'),
  buildId: Type.String(),
  error: Type.Optional(Type.Object({ message: Type.String(), step: Type.Optional(Type.String()) })),
});
export type BlobReadMessage = Static<typeof BlobReadMessage>;
export type BuildProgressMessage = Static<typeof BuildProgressMessage>;
export type BuildBlobMessage = Static<typeof BuildBlobMessage>;
export type BuildEndMessage = Static<typeof BuildEndMessage>;

export const AgentMessage = Type.Union([HelloMessage, HeartbeatMessage, StatusMessage, LogDataMessage, LogEndMessage, ContainersMessage, BlobReadMessage, BuildProgressMessage, BuildBlobMessage, BuildEndMessage]);
export type AgentMessage = Static<typeof AgentMessage>;
export type HelloMessage = Static<typeof HelloMessage>;
export type StatusMessage = Static<typeof StatusMessage>;

// ---- manager → agent ----

export const WelcomeMessage = Type.Object({
  type: Type.Literal('welcome'),
  nodeId: Type.String({ minLength: 1 }),
  heartbeatPeriodMs: Type.Integer({ minimum: 1 }),
  /** Every manager taking part now, the leader marked (absent from a manager that knows none). */
  managers: Type.Optional(Type.Array(ManagerEntry)),
});
/** The managers changed (one joined, left or took the lead): the whole list. Protocol 2 on. */
export const ManagersMessage = Type.Object({ type: Type.Literal('managers'), managers: Type.Array(ManagerEntry) });
export type ManagersMessage = Static<typeof ManagersMessage>;
/**
 * The content of a secret or config a task in the same message uses (secrets opened from their
 * sealed form). Sent only to the node that runs the task, only with a task that wants to run;
 * the agent keeps it in memory and on a per-task tmpfs, never on disk, never in logs.
 */
export const AssignedFile = Type.Object({
  id: Type.String({ minLength: 1 }),
  kind: Type.Union([Type.Literal('secret'), Type.Literal('config')]),
  /** The content, base64-encoded. */
  data: Type.String(),
});
export type AssignedFile = Static<typeof AssignedFile>;

export const AssignmentsMessage = Type.Object({
  type: Type.Literal('assignments'),
  /** True: `tasks` is the node's whole set (anything else is no longer assigned). */
  full: Type.Boolean(),
  tasks: Type.Array(Task),
  /** Ids of tasks deleted or moved away since the previous message (incremental only). */
  removed: Type.Array(Type.String()),
  /** Secrets and configs the `tasks` of this message use (absent when none do). */
  files: Type.Optional(Type.Array(AssignedFile)),
});
/**
 * The node's network map (`api/network.ts`): sent after the first `assignments` and again,
 * in full, whenever it changes (debounced). Older maps than one already received are ignored.
 */
export const NetworkMapMessage = Type.Object({ type: Type.Literal('network-map'), map: NetworkMap });
export type NetworkMapMessage = Static<typeof NetworkMapMessage>;

export const LogsRequestMessage = Type.Object({
  type: Type.Literal('logs'),
  requestId: Type.String(),
  taskId: Type.String(),
  follow: Type.Boolean(),
  tail: Type.Optional(Type.Integer({ minimum: 0 })),
});
export const LogsCancelMessage = Type.Object({ type: Type.Literal('logs-cancel'), requestId: Type.String() });
export const StatusAckMessage = Type.Object({ type: Type.Literal('status-ack'), seq: Type.Integer({ minimum: 0 }) });
/**
 * Why a manager refuses or ends a session, when the agent can act on it: `not_leader` (this
 * manager follows: go to `leader`), `leader_moved` (it stopped leading: go to `leader`, or look
 * for the new one among the managers).
 */
export const SessionErrorCode = Type.Union([Type.Literal('not_leader'), Type.Literal('leader_moved')]);
export type SessionErrorCode = Static<typeof SessionErrorCode>;
/**
 * The manager refuses or ends the session (bad hello, node removed, not the leader); the agent
 * backs off, or goes at once to the `leader` it names.
 */
export const SessionErrorMessage = Type.Object({
  type: Type.Literal('error'),
  message: Type.String(),
  code: Type.Optional(SessionErrorCode),
  /** The leader's address (`host:port`), when the refusing manager knows it. */
  leader: Type.Optional(Type.String({ minLength: 1 })),
  /** Every manager taking part now, as the refusing manager sees them. */
  managers: Type.Optional(Type.Array(ManagerEntry)),
});
export type SessionErrorMessage = Static<typeof SessionErrorMessage>;

/** The largest piece of a blob one message carries (before base64). */
export const BLOB_CHUNK_BYTES = 256 * 1024;

/** The answer to `blob-read`: up to `BLOB_CHUNK_BYTES` from the offset (base64); `eof` at the end. */
export const BlobChunkMessage = Type.Object({
  type: Type.Literal('blob-chunk'),
  requestId: Type.String(),
  data: Type.String(),
  eof: Type.Boolean(),
  /** Set when the blob cannot be read (no such image, build over). */
  error: Type.Optional(Type.String()),
});
/**
 * Builds an image on this node's engine: read the context (`blob-read` with `build`), build it
 * tagged `ref`, stream `build-progress`, send the saved archive as `build-blob`s, then `build-end`.
 */
export const BuildRequestMessage = Type.Object({
  type: Type.Literal('build'),
  buildId: Type.String({ minLength: 1 }),
  ref: Type.String({ minLength: 1 }),
  options: BuildOptions,
});
export const BuildAckMessage = Type.Object({ type: Type.Literal('build-ack'), buildId: Type.String(), seq: Type.Integer({ minimum: 0 }) });
export const BuildCancelMessage = Type.Object({ type: Type.Literal('build-cancel'), buildId: Type.String() });
export type BlobChunkMessage = Static<typeof BlobChunkMessage>;
export type BuildRequestMessage = Static<typeof BuildRequestMessage>;

export const ManagerMessage = Type.Union([
  BlobChunkMessage,
  BuildRequestMessage,
  BuildAckMessage,
  BuildCancelMessage,
  WelcomeMessage,
  AssignmentsMessage,
  NetworkMapMessage,
  LogsRequestMessage,
  LogsCancelMessage,
  StatusAckMessage,
  SessionErrorMessage,
  ManagersMessage,
]);
export type ManagerMessage = Static<typeof ManagerMessage>;
export type WelcomeMessage = Static<typeof WelcomeMessage>;
export type AssignmentsMessage = Static<typeof AssignmentsMessage>;
export type LogsRequestMessage = Static<typeof LogsRequestMessage>;

// ---- validation ----

// TypeBox knows no string formats until they are registered; timestamps are ISO-8601.
if (!FormatRegistry.Has('date-time')) {
  FormatRegistry.Set('date-time', (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)));
}

/** The result of parsing one received frame: the message, or why it is not one. */
export type ParseResult<T> = { ok: true; message: T } | { ok: false; error: string };

const agentCheckers = checkersByType([HelloMessage, HeartbeatMessage, StatusMessage, LogDataMessage, LogEndMessage, ContainersMessage, BlobReadMessage, BuildProgressMessage, BuildBlobMessage, BuildEndMessage]);
const managerCheckers = checkersByType([
  BlobChunkMessage,
  BuildRequestMessage,
  BuildAckMessage,
  BuildCancelMessage,
  WelcomeMessage,
  AssignmentsMessage,
  NetworkMapMessage,
  LogsRequestMessage,
  LogsCancelMessage,
  StatusAckMessage,
  SessionErrorMessage,
  ManagersMessage,
]);

/** Parses and validates a frame an agent sent. */
export function parseAgentMessage(text: string): ParseResult<AgentMessage> {
  return parseWith<AgentMessage>(agentCheckers, text);
}

/** Parses and validates a frame a manager sent. */
export function parseManagerMessage(text: string): ParseResult<ManagerMessage> {
  return parseWith<ManagerMessage>(managerCheckers, text);
}

/** Encodes a message for the wire. */
export function encodeMessage(message: AgentMessage | ManagerMessage): string {
  return JSON.stringify(message);
}

type Checker = ReturnType<typeof TypeCompiler.Compile>;

/** One compiled checker per message `type`, so a bad message names its own problem. */
function checkersByType(schemas: TSchema[]): Map<string, Checker> {
  const map = new Map<string, Checker>();
  for (const s of schemas) {
    const literal = (s as unknown as { properties: { type: { const: string } } }).properties.type.const;
    map.set(literal, TypeCompiler.Compile(s));
  }
  return map;
}

function parseWith<T>(checkers: Map<string, Checker>, text: string): ParseResult<T> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { ok: false, error: 'not an object' };
  const type = (value as { type?: unknown }).type;
  const checker = typeof type === 'string' ? checkers.get(type) : undefined;
  if (!checker) return { ok: false, error: `unknown message type ${JSON.stringify(type)}` };
  if (checker.Check(value)) return { ok: true, message: value as T };
  const first = checker.Errors(value).First();
  return { ok: false, error: `invalid ${type} message: ${first ? `${first.path || '/'} ${first.message}` : 'invalid'}` };
}

// ---- transport ----

/** Why a connection closed. */
export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

/**
 * One side of an agent session's transport: ordered, reliable text frames. Implementations:
 * WebSocket (`src/agent/transport/ws.ts` on the agent, `src/manager/dispatcher/ws-server.ts`
 * on the manager) and an in-process pair (`src/testing/connection-pair.ts`) for tests.
 * Handlers are set once; frames that arrive before a handler is set are buffered.
 */
export interface Connection {
  /** Where the peer is (`10.0.0.5:40112`, `in-process:node-1`). */
  readonly remoteAddr: string;
  /** Sends one frame; a no-op once the connection is closed. */
  send(text: string): void;
  onMessage(handler: (text: string) => void): void;
  /** Called exactly once, whichever side closed. */
  onClose(handler: (info: CloseInfo) => void): void;
  close(code?: number, reason?: string): void;
}
