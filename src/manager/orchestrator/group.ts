import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { isTerminal } from '../../api/task-state.ts';
import type { PlanBuilder } from './builder.ts';
import { excessHistory, historyToKeep } from './history.ts';
import type { TaskPlacement } from './new-task.ts';
import { decideRestart } from './restart.ts';
import { isDone, isLive, isUp, stopsAtOnce, timeOf } from './task-life.ts';
import { rolloutConfig } from './rollout-config.ts';
import type { UpdateStep } from './actions.ts';

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

/** Plans one group. `steps` holds the rolling update's decision for outdated live tasks. */
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

  // Tasks of the current spec and of older ones are told apart: during a start-first update a
  // slot holds both, the old one until its replacement is up.
  const current = live.filter((t) => t.specVersion >= service.specVersion);
  const old = live.filter((t) => t.specVersion < service.specVersion);
  const primary = choosePrimary(current);
  for (const t of current) if (t !== primary) b.stop(t, 'shutdown', 'duplicate task in its slot');
  const oldPrimary = choosePrimary(old);

  if (primary !== undefined) {
    const startFirst = rolloutConfig(service).order === 'start-first';
    for (const t of old) {
      if (isUp(primary)) b.stop(t, 'shutdown', 'its updated replacement is up');
      else if (t !== oldPrimary || !isUp(t) || !startFirst) b.stop(t, 'shutdown', 'duplicate task in its slot');
      // else: start-first, the old task keeps serving until the new one is up.
    }
    planPrimary(b, service, g, primary);
  } else if (oldPrimary !== undefined) {
    for (const t of old) if (t !== oldPrimary) b.stop(t, 'shutdown', 'duplicate task in its slot');
    planOutdated(b, service, g, oldPrimary, steps.get(oldPrimary.id));
  } else {
    // Stop-first: wait until every task of the group has stopped before starting another.
    const stopping = g.tasks.some((t) => !isLive(t) && !isDone(t, nodes));
    if (!stopping && g.canCreate) b.create(service, g.placement, 'slot is empty');
  }
  trimHistory(b, service, g);
}

/** The live task of the current spec: moved off a bad node, or restarted once dead. */
function planPrimary(b: PlanBuilder, service: Service, g: Group, primary: Task): void {
  if (!isTerminal(primary.status.state)) {
    const evict = primary.nodeId === undefined ? undefined : g.evict(primary);
    if (evict !== undefined) b.replace(service, primary, g.placement, evict);
    return;
  }
  if (!g.canCreate) return;
  const d = decideRestart(primary, g.tasks, service.spec.taskTemplate.restartPolicy, b.input.options.restart);
  if (d.restart && d.at <= b.now) {
    const exit = primary.status.exitCode === undefined ? '' : ` (exit code ${primary.status.exitCode})`;
    b.restart(service, primary, g.placement, d.delayMs, `restart ${d.attempt} after the task ${primary.status.state}${exit}`);
  } else if (d.restart) {
    b.wakeAt(d.at);
  }
}

/** The live task of an older spec: moved, or taken on by the rolling update when its turn comes. */
function planOutdated(b: PlanBuilder, service: Service, g: Group, task: Task, step: UpdateStep | undefined): void {
  if (isTerminal(task.status.state)) {
    // A dead outdated task is replaced at once, without the restart delay, by the new spec.
    if (g.canCreate) b.replace(service, task, g.placement, 'service updated');
    return;
  }
  const evict = task.nodeId === undefined ? undefined : g.evict(task);
  if (evict !== undefined) b.replace(service, task, g.placement, evict);
  else if (step?.action === 'replace') b.replace(service, task, g.placement, 'service updated');
  else if (step?.action === 'stop') b.stop(task, 'shutdown', 'service updated');
  else if (step?.action === 'start') b.create(service, g.placement, 'service updated (start-first)');
}

function trimHistory(b: PlanBuilder, service: Service, g: Group): void {
  const keep = historyToKeep(b.input.options.taskHistoryLimit, service.spec.taskTemplate.restartPolicy);
  for (const t of excessHistory(g.tasks, keep, b.nodes)) b.delete(t, 'task history limit');
}
