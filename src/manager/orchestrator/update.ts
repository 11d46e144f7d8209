import type { Node } from '../../api/node.ts';
import type { Service, UpdateStatus } from '../../api/service.ts';
import type { UpdateStep } from './actions.ts';
import type { Group } from './group.ts';
import { rolloutConfig } from './rollout-config.ts';
import { slotProgress, type Failure, type SlotProgress } from './rollout-slot.ts';
import { isLive, stopsAtOnce, timeOf } from './task-life.ts';

/**
 * The rolling updater's pure core: given a service, its slot groups and the time, which old
 * tasks to take on now, when to look again, and how the rollout's `updateStatus` changes.
 * Everything it needs is in the store (task spec versions and timestamps, `updateStatus`), so
 * a manager restart resumes a rollout where it was.
 *
 * - A rollout runs while `updateStatus.state` is `updating` (with `updateConfig`) or
 *   `rollback_started` (with the `rollbackConfig` of the spec being left). Outdated tasks
 *   found with no rollout running (a spec written without a status) start one.
 * - At most `parallelism` slots are in flight (0 = all): old task replaced, new one not yet up
 *   and monitored for `monitorMs`. A new slot starts `delayMs` after the last one finished.
 * - `stop-first` stops the old task, the slot gets its new task once the old one stopped;
 *   `start-first` creates the new task beside the old one, which stops once the new one is up.
 * - Failures (tasks of the rollout that ended by themselves or turned unhealthy) over
 *   `maxFailureRatio` of the slots trigger `failureAction`: `pause` (state `paused`, no more
 *   slots are started; a new spec restarts), `continue`, or `rollback` (an automatic rollback;
 *   `pause` when rolling back already or when there is no previous spec).
 * - Every slot updated: `completed` (or `rollback_completed`), with `completedAt`.
 */

export interface UpdatePlan {
  /** The step for each old task to take on now, by task id. */
  readonly steps: ReadonlyMap<string, UpdateStep>;
  /** When to plan again though nothing changes (a monitor period or a delay ends). */
  readonly wakeAt: number | undefined;
  /** The new `updateStatus` to write, when it changes. */
  readonly status: UpdateStatus | undefined;
  /** Set when the service must be rolled back now: the rollback's status message. */
  readonly rollback: string | undefined;
}

const NOTHING: UpdatePlan = { steps: new Map(), wakeAt: undefined, status: undefined, rollback: undefined };

/** Plans the rollout of `service` over its `groups` (the wanted ones matter) at `now`. */
export function planUpdate(service: Service, groups: readonly Group[], nodes: ReadonlyMap<string, Node>, now: number): UpdatePlan {
  const wanted = groups.filter((g) => g.wanted);
  let status = service.updateStatus;
  let started: UpdateStatus | undefined;
  const state = status?.state;
  const paused = state === 'paused' || state === 'rollback_paused';
  if (!paused && (state === undefined || state === 'completed' || state === 'rollback_completed')) {
    // No rollout running: start one if some slot runs an older spec.
    const older = wanted.some((g) => g.tasks.some((t) => isLive(t) && t.specVersion < service.specVersion));
    const outdated = older && wanted.some((g) => slotProgress(g, service, now, 0, now).kind === 'outdated');
    if (!outdated) return NOTHING;
    status = started = { state: 'updating', startedAt: new Date(now).toISOString(), message: 'update in progress' };
  }
  if (status === undefined || paused) return NOTHING;

  const rollingBack = status.state === 'rollback_started';
  const config = rolloutConfig({ ...service, updateStatus: status });
  const startedAt = timeOf(status.startedAt, now);
  const slots = wanted.map((g) => ({ g, p: slotProgress(g, service, startedAt, config.monitorMs, now) }));

  const failures = slots.flatMap(({ p }) => (p.kind === 'done' && p.failure ? [p.failure] : []));
  const ratio = failures.length / Math.max(1, slots.length);
  if (failures.length > 0 && ratio > config.maxFailureRatio && config.failureAction !== 'continue') {
    const why = failureReason(failures, slots.length, config.maxFailureRatio);
    if (config.failureAction === 'rollback' && !rollingBack && service.previousSpec !== undefined) {
      return { ...NOTHING, rollback: `update failed: ${why}; rolling back` };
    }
    const pausedStatus: UpdateStatus = {
      state: rollingBack ? 'rollback_paused' : 'paused',
      startedAt: status.startedAt,
      message: `${rollingBack ? 'rollback' : 'update'} paused: ${why}`,
    };
    return { ...NOTHING, status: pausedStatus };
  }

  let wakeAt: number | undefined;
  const wake = (at: number | undefined): void => {
    if (at !== undefined && (wakeAt === undefined || at < wakeAt)) wakeAt = at;
  };
  let inFlight = 0;
  let lastDone: number | undefined;
  const outdated: Array<{ g: Group; p: Extract<SlotProgress, { kind: 'outdated' }> }> = [];
  for (const { g, p } of slots) {
    if (p.kind === 'in-flight') {
      inFlight++;
      wake(p.wakeAt);
    } else if (p.kind === 'done') {
      lastDone = Math.max(lastDone ?? p.at, p.at);
    } else if (p.kind === 'outdated') {
      outdated.push({ g, p });
    }
  }

  if (outdated.length === 0 && inFlight === 0) {
    const done = rollingBack ? 'rollback completed' : 'update completed';
    const failed = failures.length > 0 ? ` with ${failures.length} failed task${failures.length === 1 ? '' : 's'}` : '';
    return {
      ...NOTHING,
      status: {
        state: rollingBack ? 'rollback_completed' : 'completed',
        startedAt: status.startedAt,
        completedAt: new Date(now).toISOString(),
        // A rollback keeps saying why it happened.
        message: rollingBack ? `${done}${failed} (${status.message})` : `${done}${failed}`,
      },
    };
  }

  const steps = new Map<string, UpdateStep>();
  let budget = config.parallelism === 0 ? Infinity : config.parallelism - inFlight;
  if (config.delayMs > 0 && lastDone !== undefined && now < lastDone + config.delayMs) {
    budget = 0;
    wake(lastDone + config.delayMs);
  }
  for (const { g, p } of outdated) {
    // A task that never reached an agent (or sits on a lost node) stops at once: replacing it
    // takes nothing down, so it does not wait for a batch.
    if (stopsAtOnce(p.task, nodes)) {
      steps.set(p.task.id, { task: p.task, action: 'replace' });
      continue;
    }
    if (budget <= 0 || !g.canCreate) continue;
    steps.set(p.task.id, { task: p.task, action: config.order === 'start-first' ? 'start' : 'stop' });
    budget--;
  }
  return { steps, wakeAt, status: started, rollback: undefined };
}

function failureReason(failures: readonly Failure[], slots: number, max: number): string {
  const first = [...failures].sort((a, b) => a.at - b.at)[0];
  return `${failures.length} of ${slots} tasks failed (max failure ratio ${max}); first: ${first?.reason ?? ''}`;
}
