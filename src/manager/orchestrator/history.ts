import type { Node } from '../../api/node.ts';
import type { RestartPolicy } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { byNewest, isDone } from './task-life.ts';

/**
 * The task reaper's decisions: which dead tasks to delete. Pure.
 */

/**
 * How many dead tasks a slot keeps. At least 1 (the last failure stays readable; the restart
 * backoff is carried by the dead task that is restarted, see restart.ts). With `maxAttempts`
 * set, enough to count the attempts, or a slot that gave up would forget it had.
 */
export function historyToKeep(limit: number, policy: RestartPolicy): number {
  return Math.max(1, limit, policy.maxAttempts);
}

/**
 * Dead tasks of one slot (or one node of a global service) beyond the newest `keep`.
 * Only tasks the orchestrator stopped or replaced count (desired shutdown); the live task
 * stays even when dead (a task the restart policy did not restart keeps its slot).
 */
export function excessHistory(group: readonly Task[], keep: number, nodes: ReadonlyMap<string, Node>): Task[] {
  const dead = group.filter((t) => t.desiredState === 'shutdown' && isDone(t, nodes)).sort(byNewest);
  return dead.slice(keep);
}

/** Tasks marked for removal that have stopped (or never started, or sit on a lost node). */
export function removable(tasks: readonly Task[], nodes: ReadonlyMap<string, Node>): Task[] {
  return tasks.filter((t) => t.desiredState === 'remove' && isDone(t, nodes));
}
