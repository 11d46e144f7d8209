import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { stopsAtOnce } from './task-life.ts';

/**
 * The update decision: what to do with live tasks built from an older spec. One pure
 * function so a rolling updater (parallelism, delay, start-first, failure action) can replace
 * it without touching the rest of the orchestrator.
 *
 * Current strategy: stop-first, all at once. Each outdated task is stopped; its slot gets a
 * task of the new spec once the old one has stopped. A task that stops at once (never
 * started, already dead, or on a lost node) is replaced in the same step.
 */

export interface UpdateStep {
  readonly task: Task;
  /** `stop`: ask it to stop, replace it once stopped. `replace`: stop and replace now. */
  readonly action: 'stop' | 'replace';
}

/**
 * Steps for the service's outdated live tasks (each has `specVersion < service.specVersion`).
 * Tasks without a step are left alone for now (a rolling updater would hold some back).
 */
export function planUpdate(
  _service: Service,
  outdated: readonly Task[],
  nodes: ReadonlyMap<string, Node>,
): UpdateStep[] {
  return outdated.map((task) => ({ task, action: stopsAtOnce(task, nodes) ? 'replace' : 'stop' }));
}
