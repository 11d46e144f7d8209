import type { Service } from '../../api/service.ts';
import { isTerminal, type Task } from '../../api/task.ts';
import type { PlanBuilder } from './builder.ts';
import { excessHistory, historyToKeep } from './history.ts';
import type { TaskPlacement } from './new-task.ts';
import { decideRestart } from './restart.ts';
import { isDone, isLive, stopsAtOnce, timeOf } from './task-life.ts';
import type { UpdateStep } from './update.ts';

/**
 * One group of a service's tasks: a replica slot, or the tasks of a global service on one
 * node. A wanted group has exactly one live task (desired running); this file decides, for
 * one group, what makes it so: create, restart after the backoff, move off a drained node,
 * replace after an update, stop when unwanted, and trim its history. Pure.
 */
export interface Group {
  readonly tasks: readonly Task[];
  readonly placement: TaskPlacement;
  /** The group should have a live task. */
  readonly wanted: boolean;
  /** A new task may be created now (a global service waits for a ready, active node). */
  readonly canCreate: boolean;
  /** Why the live task must move elsewhere (replicated tasks on a drained or down node). */
  readonly evict: (t: Task) => string | undefined;
  /** Desired state for live tasks of an unwanted group. */
  readonly unwanted: 'shutdown' | 'remove';
  /** When unwanted: delete its history too (retired slot, node gone). */
  readonly dropHistory: boolean;
}

/**
 * The live task a group keeps when there are several (which only a bug or a lost race
 * makes): a running one over a dead one, the newest spec, then the newest.
 */
export function choosePrimary(live: readonly Task[]): Task | undefined {
  let best: Task | undefined;
  for (const t of live) {
    if (!best) {
      best = t;
      continue;
    }
    const rank = (x: Task): [number, number, number] => [
      isTerminal(x.status.state) ? 0 : 1,
      x.specVersion,
      timeOf(x.createdAt),
    ];
    const [a1, a2, a3] = rank(t);
    const [b1, b2, b3] = rank(best);
    if (a1 > b1 || (a1 === b1 && (a2 > b2 || (a2 === b2 && a3 > b3)))) best = t;
  }
  return best;
}

/** Plans one group. `steps` holds the update decision for outdated live tasks. */
export function planGroup(b: PlanBuilder, service: Service, g: Group, steps: ReadonlyMap<string, UpdateStep>): void {
  const nodes = b.nodes;
  const live = g.tasks.filter(isLive);

  if (!g.wanted) {
    for (const t of live) {
      if (g.unwanted === 'remove' && stopsAtOnce(t, nodes)) b.delete(t, 'not wanted and already stopped');
      else b.stop(t, g.unwanted, 'not wanted here any more');
    }
    if (g.dropHistory) {
      for (const t of g.tasks) if (t.desiredState === 'shutdown' && isDone(t, nodes)) b.delete(t, 'history of a retired slot');
    } else {
      trimHistory(b, service, g);
    }
    return;
  }

  const primary = choosePrimary(live);
  for (const t of live) if (t !== primary) b.stop(t, 'shutdown', 'duplicate task in its slot');

  if (primary === undefined) {
    // Stop-first: wait until every task of the group has stopped before starting another.
    const stopping = g.tasks.some((t) => !isLive(t) && !isDone(t, nodes));
    if (!stopping && g.canCreate) b.create(service, g.placement, 'slot is empty');
  } else if (!isTerminal(primary.status.state)) {
    const evict = primary.nodeId === undefined ? undefined : g.evict(primary);
    const step = steps.get(primary.id);
    if (evict !== undefined) b.replace(service, primary, g.placement, evict);
    else if (step?.action === 'replace') b.replace(service, primary, g.placement, 'service updated');
    else if (step?.action === 'stop') b.stop(primary, 'shutdown', 'service updated');
  } else if (primary.specVersion < service.specVersion) {
    if (g.canCreate) b.replace(service, primary, g.placement, 'service updated');
  } else if (g.canCreate) {
    const d = decideRestart(primary, g.tasks, service.spec.taskTemplate.restartPolicy, b.input.options.restart);
    if (d.restart && d.at <= b.now) {
      const exit = primary.status.exitCode === undefined ? '' : ` (exit code ${primary.status.exitCode})`;
      b.replace(service, primary, g.placement, `restart ${d.attempt} after the task ${primary.status.state}${exit}`);
    } else if (d.restart) {
      b.wakeAt(d.at);
    }
  }
  trimHistory(b, service, g);
}

function trimHistory(b: PlanBuilder, service: Service, g: Group): void {
  const keep = historyToKeep(b.input.options.taskHistoryLimit, service.spec.taskTemplate.restartPolicy);
  for (const t of excessHistory(g.tasks, keep, b.nodes)) b.delete(t, 'task history limit');
}
