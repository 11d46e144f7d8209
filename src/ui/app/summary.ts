import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import type { Task as FullTask } from '../../api/task.ts';
import type { TaskBrief as Task } from '../../api/task-requests.ts';
import { isTerminal, TASK_STATES, type TaskState } from '../../api/task-state.ts';

/** How a service is doing, at a glance. */
export type ServiceHealth = 'converged' | 'updating' | 'failing';

/** A service's running and desired task counts, and its health. */
export interface ServiceSummary {
  readonly service: Service;
  readonly running: number;
  readonly desired: number;
  readonly health: ServiceHealth;
  /** Why it is not converged (a pending task's reason, a task's error, the update's message). */
  readonly why: string;
}

/** The tasks of each service id. */
export function tasksByService(tasks: Iterable<Task>): Map<string, Task[]> {
  const by = new Map<string, Task[]>();
  for (const t of tasks) {
    const list = by.get(t.serviceId);
    if (list) list.push(t);
    else by.set(t.serviceId, [t]);
  }
  return by;
}

/**
 * One service's counts and health: `failing` when its update is paused or rolling back, or when
 * it is short of tasks and one of them failed, was rejected or cannot be placed; `updating`
 * when a rollout runs or it is short otherwise; else `converged`.
 */
export function summarizeService(service: Service, tasks: readonly Task[]): ServiceSummary {
  // One pass, no intermediate arrays: the dashboard calls this for services of thousands of tasks.
  let live = 0;
  let running = 0;
  let complete = 0;
  let pendingStuck: Task | undefined;
  let failed: Task | undefined;
  for (const t of tasks) {
    const state = t.status.state;
    if (state === 'complete') complete++;
    if (t.desiredState === 'running') {
      live++;
      if (state === 'running') running++;
      else if (state === 'pending' && pendingStuck === undefined && t.status.message !== '') pendingStuck = t;
    }
    if (failed === undefined && (state === 'failed' || state === 'rejected') && t.desiredState !== 'remove') failed = t;
  }
  const mode = service.spec.mode;
  const desired = mode === 'replicated' ? service.spec.replicas : mode === 'replicated-job' ? (service.spec.job?.totalCompletions ?? service.spec.replicas) : live;
  const update = service.updateStatus;
  const isJob = mode === 'replicated-job' || mode === 'global-job';
  const done = isJob ? complete : running;
  const stuck = pendingStuck ?? failed;
  const why = stuck ? (stuck.status.err ?? stuck.status.message) : (update?.message ?? '');
  if (update?.state === 'paused' || update?.state === 'rollback_paused' || update?.state === 'rollback_started') return { service, running: done, desired, health: 'failing', why: update.message || why };
  if (done < desired) return { service, running: done, desired, health: stuck ? 'failing' : 'updating', why };
  if (update?.state === 'updating') return { service, running: done, desired, health: 'updating', why: update.message };
  return { service, running: done, desired, health: 'converged', why: '' };
}

/** How many tasks are in each state (every state listed, in the table's order); terminal tasks of removed slots included. */
export function tasksByState(tasks: Iterable<Task>): Map<TaskState, number> {
  const counts = new Map<TaskState, number>(TASK_STATES.map((s) => [s, 0]));
  for (const t of tasks) counts.set(t.status.state, (counts.get(t.status.state) ?? 0) + 1);
  return counts;
}

/** Nodes that are ready, and the rest (down, unknown, disconnected). */
export function nodeCounts(nodes: Iterable<Node>): { ready: number; down: number } {
  let ready = 0;
  let down = 0;
  for (const n of nodes) {
    if (n.status.state === 'ready') ready++;
    else down++;
  }
  return { ready, down };
}

/**
 * The tasks of one service as its table shows them: live ones first (by slot), then the
 * history of ended ones, newest first.
 */
export function orderTasks(tasks: readonly Task[]): Task[] {
  const live: Task[] = [];
  const ended: Task[] = [];
  for (const t of tasks) (!isTerminal(t.status.state) || t.desiredState === 'running' ? live : ended).push(t);
  live.sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || a.id.localeCompare(b.id));
  ended.sort((a, b) => b.status.timestamp.localeCompare(a.status.timestamp));
  return [...live, ...ended];
}

/** A task as the views read it: the dashboard may hold tasks without their `spec`. */
export type TaskLike = Task & { spec?: FullTask['spec'] };

/** How far a service's latest rollout (update or rollback) is. */
export interface UpdateProgress {
  readonly state: NonNullable<Service['updateStatus']>['state'];
  /** Slots (or nodes, for a global service) whose task runs the current spec. */
  readonly updated: number;
  readonly total: number;
  readonly paused: boolean;
  readonly rollingBack: boolean;
  readonly message: string;
}

/**
 * The rollout's progress: of the service's slots (replicas, or nodes of a global service),
 * how many run a task of the current `specVersion`. Undefined before the first rollout.
 */
export function updateProgress(service: Service, tasks: readonly TaskLike[]): UpdateProgress | undefined {
  const u = service.updateStatus;
  if (!u) return undefined;
  const live = tasks.filter((t) => t.desiredState === 'running');
  const slots = new Set(live.map(slotKey));
  const total = service.spec.mode === 'replicated' ? service.spec.replicas : slots.size;
  const updated = new Set(live.filter((t) => t.specVersion === service.specVersion && t.status.state === 'running').map(slotKey)).size;
  return {
    state: u.state,
    updated: Math.min(updated, total),
    total,
    paused: u.state === 'paused' || u.state === 'rollback_paused',
    rollingBack: u.state.startsWith('rollback'),
    message: u.message,
  };
}

/** The slot a task fills: its replica slot, else its node (global services), else itself. */
export function slotKey(t: TaskLike): string {
  return t.slot !== undefined ? `slot ${t.slot}` : t.nodeId !== undefined ? `node ${t.nodeId}` : `task ${t.id}`;
}

/** One row of a service's task table: a slot's current task, or (expanded) an older one. */
export interface SlotRow<T extends TaskLike = TaskLike> {
  readonly task: T;
  readonly slot: string;
  /** `current`: the slot's task now (with `older` behind it); `older`: an earlier task of the slot. */
  readonly kind: 'current' | 'older';
  /** How many older tasks the slot has (on its current row). */
  readonly older: number;
}

/**
 * A service's tasks by slot: per slot its current task (the one desired running, else the
 * newest) and, when the slot is in `expanded`, its older tasks below it, newest first. Slots
 * still wanted come first, by slot number; slots left behind (scaled down) after, newest first.
 */
export function slotRows<T extends TaskLike>(tasks: readonly T[], expanded: ReadonlySet<string> = new Set()): SlotRow<T>[] {
  const bySlot = new Map<string, T[]>();
  for (const t of tasks) {
    const k = slotKey(t);
    const list = bySlot.get(k);
    if (list) list.push(t);
    else bySlot.set(k, [t]);
  }
  const newestFirst = (a: T, b: T): number => b.createdAt.localeCompare(a.createdAt) || b.status.timestamp.localeCompare(a.status.timestamp);
  const groups = [...bySlot].map(([slot, list]) => {
    list.sort((a, b) => Number(b.desiredState === 'running') - Number(a.desiredState === 'running') || newestFirst(a, b));
    return { slot, list, wanted: list[0]?.desiredState === 'running' };
  });
  groups.sort((a, b) => {
    if (a.wanted !== b.wanted) return a.wanted ? -1 : 1;
    const x = a.list[0] as T;
    const y = b.list[0] as T;
    if (a.wanted) return (x.slot ?? 0) - (y.slot ?? 0) || a.slot.localeCompare(b.slot);
    return newestFirst(x, y);
  });
  const rows: SlotRow<T>[] = [];
  for (const g of groups) {
    const [current, ...older] = g.list;
    if (!current) continue;
    rows.push({ task: current, slot: g.slot, kind: 'current', older: older.length });
    if (expanded.has(g.slot)) for (const t of older) rows.push({ task: t, slot: g.slot, kind: 'older', older: 0 });
  }
  return rows;
}
