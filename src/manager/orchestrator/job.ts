import { jobTarget, succeeded } from '../../api/job.ts';
import type { RestartPolicy, Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { isTerminal } from '../../api/task-state.ts';
import type { PlanBuilder } from './builder.ts';
import { choosePrimary } from './group.ts';
import { excessHistory, historyToKeep } from './history.ts';
import type { TaskPlacement } from './new-task.ts';
import { evictionReason, globalFit } from './node-health.ts';
import { decideRestart } from './restart.ts';
import { byNewest, isDone, isLive, stopsAtOnce } from './task-life.ts';

/**
 * The job planner: `replicated-job` and `global-job` services, whose tasks run to completion.
 * Pure (writes only through the builder).
 *
 * - A *run* is the service's `specVersion` (the API bumps it on a spec change and, for jobs, on
 *   a new replica count or job option). Live tasks of earlier runs are shut down; their dead
 *   tasks are history.
 * - `replicated-job`: slots 1…`totalCompletions`, each wanting one successful task; at most
 *   `maxConcurrent` tasks of the run are alive at once (lowest slots first).
 * - `global-job`: one task per eligible node, run once to success.
 * - A task that completed with exit code 0 is never restarted; a failed one is restarted per the
 *   restart policy with condition `on-failure` (`any` acts as `on-failure`, `none` stays), with
 *   the same backoff and `maxAttempts` as services. A slot that gave up stays failed.
 */
export function planJob(b: PlanBuilder, service: Service, tasks: readonly Task[]): void {
  const current: Task[] = [];
  const old: Task[] = [];
  for (const t of tasks) (t.specVersion >= service.specVersion ? current : old).push(t);
  retireEarlierRuns(b, service, old);
  finishRollout(b, service, old);
  if (service.spec.mode === 'global-job') planGlobalJob(b, service, current);
  else planReplicatedJob(b, service, current);
}

/** The policy a job's failed task is restarted by: `on-failure` unless the user said `none`. */
export function jobRestartPolicy(policy: RestartPolicy): RestartPolicy {
  return policy.condition === 'none' ? policy : { ...policy, condition: 'on-failure' };
}

function retireEarlierRuns(b: PlanBuilder, service: Service, old: readonly Task[]): void {
  for (const t of old) {
    if (!isLive(t)) continue;
    if (!isTerminal(t.status.state) && stopsAtOnce(t, b.nodes)) b.stop(t, 'remove', 'an earlier job run; never started');
    else b.stop(t, 'shutdown', 'an earlier job run');
  }
  const keep = historyToKeep(b.input.options.taskHistoryLimit, service.spec.taskTemplate.restartPolicy);
  const dead = old.filter((t) => !isLive(t) && t.desiredState === 'shutdown' && isDone(t, b.nodes)).sort(byNewest);
  for (const t of dead.slice(keep)) b.delete(t, 'history of an earlier job run');
}

/** A spec change of a job takes effect at once (a new run): its rollout is complete. */
function finishRollout(b: PlanBuilder, service: Service, old: readonly Task[]): void {
  const status = service.updateStatus;
  if (status === undefined || (status.state !== 'updating' && status.state !== 'rollback_started')) return;
  if (old.some((t) => isLive(t) && !isTerminal(t.status.state) && !stopsAtOnce(t, b.nodes))) return;
  const rollingBack = status.state === 'rollback_started';
  b.status(
    service,
    {
      state: rollingBack ? 'rollback_completed' : 'completed',
      startedAt: status.startedAt,
      completedAt: new Date(b.now).toISOString(),
      message: rollingBack ? `rollback completed: job run restarted (${status.message})` : 'update completed: job run restarted',
    },
    'a job starts a new run on every spec change',
  );
}

/** What one slot or node of a job wants now. */
type SlotNeed =
  | { readonly kind: 'none' }
  | { readonly kind: 'active' }
  | { readonly kind: 'create' }
  | { readonly kind: 'restart'; readonly dead: Task; readonly attempt: number; readonly delayMs: number };

/**
 * Looks at one slot (or node) of the current run: done, running, to (re)start, or waiting. Stops
 * duplicates; asks to be woken when a restart delay ends.
 */
function slotNeed(b: PlanBuilder, service: Service, group: readonly Task[], canCreate: boolean): SlotNeed {
  const live = group.filter(isLive);
  if (group.some(succeeded)) {
    for (const t of live) if (!isTerminal(t.status.state)) b.stop(t, 'shutdown', 'its job slot already completed');
    return { kind: 'none' };
  }
  const primary = choosePrimary(live);
  for (const t of live) if (t !== primary) b.stop(t, 'shutdown', 'duplicate task in its job slot');
  if (primary === undefined) {
    const stopping = group.some((t) => !isDone(t, b.nodes));
    return !stopping && canCreate ? { kind: 'create' } : { kind: 'none' };
  }
  if (!isTerminal(primary.status.state)) return { kind: 'active' };
  if (!canCreate) return { kind: 'none' };
  const policy = jobRestartPolicy(service.spec.taskTemplate.restartPolicy);
  const d = decideRestart(primary, group, policy, b.input.options.restart);
  if (!d.restart) return { kind: 'none' };
  if (d.at > b.now) {
    b.wakeAt(d.at);
    return { kind: 'none' };
  }
  return { kind: 'restart', dead: primary, attempt: d.attempt, delayMs: d.delayMs };
}

function start(b: PlanBuilder, service: Service, need: SlotNeed, placement: TaskPlacement): void {
  if (need.kind === 'create') b.create(service, placement, 'job slot is empty');
  if (need.kind === 'restart') {
    const exit = need.dead.status.exitCode === undefined ? '' : ` (exit code ${need.dead.status.exitCode})`;
    b.restart(service, need.dead, placement, need.delayMs, `restart ${need.attempt} after the job task ${need.dead.status.state}${exit}`);
  }
}

function trim(b: PlanBuilder, service: Service, group: readonly Task[]): void {
  const keep = historyToKeep(b.input.options.taskHistoryLimit, service.spec.taskTemplate.restartPolicy);
  for (const t of excessHistory(group, keep, b.nodes)) b.delete(t, 'task history limit');
}

function planReplicatedJob(b: PlanBuilder, service: Service, current: readonly Task[]): void {
  const { maxConcurrent, totalCompletions } = jobTarget(service.spec);
  const bySlot = new Map<number, Task[]>();
  for (const t of current) {
    const slot = t.slot ?? 0;
    let list = bySlot.get(slot);
    if (!list) bySlot.set(slot, (list = []));
    list.push(t);
  }
  // Slots outside 1…totalCompletions (or without a slot) are not wanted.
  for (const [slot, group] of bySlot) {
    if (slot >= 1 && slot <= totalCompletions) continue;
    for (const t of group.filter(isLive)) {
      if (stopsAtOnce(t, b.nodes)) b.delete(t, 'not wanted by the job and already stopped');
      else b.stop(t, 'remove', 'not wanted by the job');
    }
  }

  let active = 0;
  const ready: Array<{ slot: number; need: SlotNeed }> = [];
  for (let slot = 1; slot <= totalCompletions; slot++) {
    const group = bySlot.get(slot) ?? [];
    const primary = choosePrimary(group.filter(isLive));
    const evict = primary?.nodeId !== undefined && !isTerminal(primary.status.state) ? evictionReason(b.nodes.get(primary.nodeId)) : undefined;
    if (primary !== undefined && evict !== undefined && !group.some(succeeded)) {
      b.replace(service, primary, { slot }, evict);
      active++;
    } else {
      const need = slotNeed(b, service, group, true);
      if (need.kind === 'active') active++;
      else if (need.kind !== 'none') ready.push({ slot, need });
    }
    trim(b, service, group);
  }
  for (const { slot, need } of ready) {
    if (active >= maxConcurrent) break;
    start(b, service, need, { slot });
    active++;
  }
}

function planGlobalJob(b: PlanBuilder, service: Service, current: readonly Task[]): void {
  const byNode = new Map<string, Task[]>();
  for (const t of current) {
    const nodeId = t.nodeId ?? '';
    let list = byNode.get(nodeId);
    if (!list) byNode.set(nodeId, (list = []));
    list.push(t);
  }
  const nodeIds = new Set([...b.nodes.keys(), ...byNode.keys()]);
  for (const nodeId of [...nodeIds].sort()) {
    const group = byNode.get(nodeId) ?? [];
    const fit = nodeId === '' ? { canRun: false, canStart: false } : globalFit(b.nodes.get(nodeId), service.spec.taskTemplate);
    if (!fit.canRun) {
      // A node that may no longer run the job: stop what still runs there; results stay.
      for (const t of group) {
        if (!isLive(t) || succeeded(t)) continue;
        if (stopsAtOnce(t, b.nodes)) b.stop(t, 'remove', 'node can no longer run the job');
        else b.stop(t, 'shutdown', 'node can no longer run the job');
      }
    } else {
      start(b, service, slotNeed(b, service, group, fit.canStart), { nodeId });
    }
    trim(b, service, group);
  }
}
