import { Type, type Static } from '@sinclair/typebox';
import { Meta } from './meta.ts';
import { TaskAddress, TaskNetwork } from './network.ts';
import { PortConfig, TaskTemplate } from './service.ts';
import { TASK_STATES } from './task-state.ts';

// The task states, their order and owners live in `task-state.ts`; re-exported here for the
// modules that import them with the task type.
export {
  TASK_STATES,
  TERMINAL_STATES,
  isTerminal,
  stateRank,
  type TaskState,
} from './task-state.ts';
export const TaskStateSchema = Type.Union(TASK_STATES.map((s) => Type.Literal(s)));

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
  /** The task's address on each of its networks, once its agent attached it. */
  networks: Type.Optional(Type.Array(TaskAddress)),
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
    /**
     * The task's published ports: the host-mode ports it binds on its node. Written by the
     * allocator only (`publishedPorts` of the spec the task was built from); empty until then.
     */
    ports: Type.Array(PortConfig),
    /**
     * The networks the task joins, resolved from the spec's `networks` (ids, names, aliases).
     * Written by the allocator only; absent until then (and on tasks from before networks).
     */
    networks: Type.Optional(Type.Array(TaskNetwork)),
    desiredState: DesiredState,
    status: TaskStatus,
    /**
     * Set by the orchestrator on a task it created as the restart of a dead one: the wait it
     * chose between that death and this task (ms). The restart backoff grows from it; absent
     * on tasks that were not restarts (first task of a slot, moved off a node, updated) and on
     * tasks written before the field existed (both count as "not a restart").
     */
    restartDelayMs: Type.Optional(
      Type.Integer({ minimum: 0, description: 'ms waited after the previous task died, when this task was created as its restart' }),
    ),
  }),
]);
export type Task = Static<typeof Task>;
