import { Type, type Static } from '@sinclair/typebox';
import { Meta } from './meta.ts';
import { PortConfig, TaskTemplate } from './service.ts';

/**
 * Observed task states in the order a task moves through them. A task's state only moves
 * forward in this list; each state has one owner (see docs/architecture.md):
 * new (orchestrator) → pending (allocator) → assigned (scheduler) → accepted … running (agent)
 * → a terminal state.
 */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
export const TaskStateSchema = Type.Union(TASK_STATES.map((s) => Type.Literal(s)));

/** States after which a task never runs again. */
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set([
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
]);

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state);
}

/** Position of a state in the forward order; a write may only raise it. */
export function stateRank(state: TaskState): number {
  return TASK_STATES.indexOf(state);
}

export const DesiredState = Type.Union([
  Type.Literal('running'),
  Type.Literal('shutdown'),
  Type.Literal('remove'),
]);
export type DesiredState = Static<typeof DesiredState>;

export const TaskStatus = Type.Object({
  state: TaskStateSchema,
  /** When the state last changed. */
  timestamp: Type.String({ format: 'date-time' }),
  /** Human-readable progress ("pulling image", "no suitable node: …"). */
  message: Type.String(),
  /** Why the task failed or was rejected, in the words of whoever failed it. */
  err: Type.Optional(Type.String()),
  exitCode: Type.Optional(Type.Integer()),
  containerId: Type.Optional(Type.String()),
  /** Process id of an `exec` task. */
  pid: Type.Optional(Type.Integer()),
  /** Health of a running task with a health check; absent when it has none. */
  health: Type.Optional(Type.Union([Type.Literal('starting'), Type.Literal('healthy'), Type.Literal('unhealthy')])),
});
export type TaskStatus = Static<typeof TaskStatus>;

export const Task = Type.Composite([
  Meta,
  Type.Object({
    serviceId: Type.String(),
    serviceName: Type.String(),
    /** Replica slot (1-based) of a replicated service; absent for global services. */
    slot: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Node the task runs on; set by the scheduler, or at creation for global services. */
    nodeId: Type.Optional(Type.String()),
    /** The service's `specVersion` this task was created from. */
    specVersion: Type.Integer({ minimum: 1 }),
    spec: TaskTemplate,
    ports: Type.Array(PortConfig),
    desiredState: DesiredState,
    status: TaskStatus,
  }),
]);
export type Task = Static<typeof Task>;
