/**
 * Task states as data: the one table of every observed task state, in the order a task moves
 * through them, with the component that owns (writes) each, and the predicates every component
 * uses instead of keeping its own list of states.
 *
 * The rules the table encodes (its unit test checks them):
 * - The order is total and a task's state only moves forward in it (`movesForward`).
 * - Every state has exactly one owner: new (orchestrator) → pending (allocator) → assigned
 *   (scheduler) → accepted … running and the states an agent ends a task in (agent).
 *   `remove` and `orphaned` are reserved (nothing writes them yet): `remove` for the
 *   orchestrator, `orphaned` for the manager's node liveness (the dispatcher), as in SwarmKit.
 * - Terminal states come last; once a task is in one it never changes state again.
 */

/** How a task came to its terminal state: by itself (exited, failed, lost) or stopped by the manager. */
export type TaskEnd = 'itself' | 'stopped';

/** Who writes a task state. */
export type TaskStateOwner = 'orchestrator' | 'allocator' | 'scheduler' | 'agent' | 'dispatcher';

/** One row of the state table. */
export interface TaskStateInfo {
  readonly owner: TaskStateOwner;
  /** Set on terminal states only. */
  readonly end?: TaskEnd;
  /** Failed or rejected: the task's own run (or its preparation) went wrong. */
  readonly failure?: true;
  /** A process may have been started for the task (so it may have logs). */
  readonly mayHaveRun?: true;
}

/** The state table, in the forward order (the order of its keys). */
const TABLE = {
  new: { owner: 'orchestrator' },
  pending: { owner: 'allocator' },
  assigned: { owner: 'scheduler' },
  accepted: { owner: 'agent' },
  preparing: { owner: 'agent' },
  starting: { owner: 'agent', mayHaveRun: true },
  running: { owner: 'agent', mayHaveRun: true },
  complete: { owner: 'agent', end: 'itself', mayHaveRun: true },
  shutdown: { owner: 'agent', end: 'stopped', mayHaveRun: true },
  failed: { owner: 'agent', end: 'itself', failure: true, mayHaveRun: true },
  rejected: { owner: 'agent', end: 'itself', failure: true },
  remove: { owner: 'orchestrator', end: 'stopped' },
  orphaned: { owner: 'dispatcher', end: 'itself' },
} as const satisfies Record<string, TaskStateInfo>;

/** An observed task state (`task.status.state`). */
export type TaskState = keyof typeof TABLE;

/** Every task state, in the order a task moves through them. */
export const TASK_STATES: readonly TaskState[] = Object.keys(TABLE) as TaskState[];

/** The state table: each state's owner and kind. */
export const TASK_STATE_TABLE: Readonly<Record<TaskState, TaskStateInfo>> = TABLE;
const ROWS = TASK_STATE_TABLE;

const RANK = Object.fromEntries(TASK_STATES.map((s, i) => [s, i])) as Record<TaskState, number>;

/** States after which a task never runs again. */
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(TASK_STATES.filter((s) => ROWS[s].end !== undefined));

/** The states a task passes through before it ends (new … running), in order. */
export const NON_TERMINAL_STATES: readonly TaskState[] = TASK_STATES.filter((s) => !TERMINAL_STATES.has(s));

/** The component that writes `state`. */
export function ownerOf(state: TaskState): TaskStateOwner {
  return ROWS[state].owner;
}

/** The states `owner` writes, in order. */
export function statesOwnedBy(owner: TaskStateOwner): TaskState[] {
  return TASK_STATES.filter((s) => ROWS[s].owner === owner);
}

/** Position of a state in the forward order; a write may only raise it. */
export function stateRank(state: TaskState): number {
  return RANK[state];
}

/** Whether `state` comes before `other` in the forward order. */
export function isBefore(state: TaskState, other: TaskState): boolean {
  return RANK[state] < RANK[other];
}

/** Whether `state` is `other` or comes after it in the forward order. */
export function isAtOrAfter(state: TaskState, other: TaskState): boolean {
  return RANK[state] >= RANK[other];
}

/** A state after which a task never runs again. */
export function isTerminal(state: TaskState): boolean {
  return ROWS[state].end !== undefined;
}

/**
 * Whether a status in state `to` may be written over one in state `from`: never after a
 * terminal state, never backwards. The same (non-terminal) state is a refinement (a new
 * message, a container id, a health change). The one rule of "states only move forward".
 */
export function movesForward(from: TaskState, to: TaskState): boolean {
  return !isTerminal(from) && RANK[to] >= RANK[from];
}

/**
 * On a node and not ended: assigned … running. Such a task holds its node (when still wanted)
 * and has an agent that must stop it.
 */
export function isOnNode(state: TaskState): boolean {
  return RANK[state] >= RANK.assigned && !isTerminal(state);
}

/** Ended by itself (exited, failed, was rejected, or lost with its node), not stopped by the manager. */
export function isSelfEnded(state: TaskState): boolean {
  return ROWS[state].end === 'itself';
}

/** Failed or rejected: the task's own run (or its preparation) went wrong. */
export function isFailure(state: TaskState): boolean {
  return ROWS[state].failure === true;
}

/** Whether a process may have been started for a task in this state (so it may have output). */
export function mayHaveRun(state: TaskState): boolean {
  return ROWS[state].mayHaveRun === true;
}
