import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { isTerminal } from '../../api/task-state.ts';
import { shortId } from '../../lib/ids.ts';
import { choosePrimary, type Group } from './group.ts';
import { deathTime, endedByItself } from './restart.ts';
import { isLive, isUp, timeOf } from './task-life.ts';

/**
 * Where one slot (or global node) stands in a rollout, derived from its tasks alone — no
 * memory — so a manager restart resumes an update where it was. Pure.
 *
 * A task is *part of the rollout* when it was built from the current spec and created at or
 * after the rollout started. It is *up* when running and, if it reports health, healthy; it
 * has passed its *monitor* period `monitorMs` after it came up (its status timestamp). It
 * *failed* when it ended by itself (failed, rejected, exited, orphaned) or turned unhealthy.
 */
export type SlotProgress =
  /** Its live task is of an older spec and the rollout has not touched it yet. */
  | { readonly kind: 'outdated'; readonly task: Task }
  /** Being updated: old task stopping, new task starting, or new task being monitored. */
  | { readonly kind: 'in-flight'; readonly wakeAt: number | undefined }
  /** Updated: its new task passed its monitor period (`at`), or failed (`failure`). */
  | { readonly kind: 'done'; readonly at: number; readonly failure: Failure | undefined }
  /** Nothing to roll out here (already current before the rollout, or nothing may run). */
  | { readonly kind: 'current' };

/** A task of the rollout that failed, with a one-line reason. */
export interface Failure {
  readonly task: Task;
  readonly at: number;
  readonly reason: string;
}

/** Whether `t` failed as a task of the rollout that started at `startedAt`. */
export function rolloutFailure(t: Task, service: Service, startedAt: number): Failure | undefined {
  if (t.specVersion !== service.specVersion || timeOf(t.createdAt) < startedAt) return undefined;
  const where = t.slot === undefined ? `on node ${shortId(t.nodeId ?? '')}` : `in slot ${t.slot}`;
  const name = `task ${shortId(t.id)} ${where}`;
  if (isTerminal(t.status.state) && endedByItself(t)) {
    const exit = t.status.exitCode === undefined ? '' : ` with exit code ${t.status.exitCode}`;
    const err = t.status.err === undefined || t.status.err === `exit code ${t.status.exitCode}` ? '' : ` (${t.status.err})`;
    return { task: t, at: deathTime(t), reason: `${name} ${t.status.state}${exit}${err}` };
  }
  if (t.desiredState === 'running' && t.status.state === 'running' && t.status.health === 'unhealthy') {
    return { task: t, at: timeOf(t.status.timestamp, timeOf(t.createdAt)), reason: `${name} is unhealthy` };
  }
  return undefined;
}

/** Where a wanted group stands in the rollout of `service` that started at `startedAt`. */
export function slotProgress(
  g: Group,
  service: Service,
  startedAt: number,
  monitorMs: number,
  now: number,
): SlotProgress {
  let failure: Failure | undefined;
  for (const t of g.tasks) {
    const f = rolloutFailure(t, service, startedAt);
    if (f && (!failure || f.at < failure.at)) failure = f;
  }
  // A slot whose new task failed counts as updated: the restart policy takes it from there,
  // and the failure counts against the rollout's maxFailureRatio.
  if (failure) return { kind: 'done', at: failure.at, failure };

  const live = g.tasks.filter(isLive);
  const current = choosePrimary(live.filter((t) => t.specVersion >= service.specVersion));
  if (current) {
    if (timeOf(current.createdAt) < startedAt) return { kind: 'current' };
    if (!isUp(current)) return { kind: 'in-flight', wakeAt: undefined };
    const end = timeOf(current.status.timestamp, now) + monitorMs;
    return end <= now ? { kind: 'done', at: end, failure: undefined } : { kind: 'in-flight', wakeAt: end };
  }
  const old = choosePrimary(live);
  if (old && !isTerminal(old.status.state) && (old.nodeId === undefined || g.evict(old) === undefined)) {
    return { kind: 'outdated', task: old };
  }
  // An empty slot that may get no task now (a global service on a paused node) holds nothing up.
  if (!old && !g.canCreate) return { kind: 'current' };
  // Dead or evicted old task (replaced at once), or an empty slot being filled.
  return { kind: 'in-flight', wakeAt: undefined };
}
