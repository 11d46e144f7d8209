import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
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
