import type { RestartCondition, RestartPolicy } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { isSelfEnded, isTerminal } from '../../api/task-state.ts';
import { timeOf } from './task-life.ts';

/**
 * The restart supervisor's decisions, as pure functions of a slot's (or a global node's) task
 * history. Nothing is remembered in memory: the delay before a restart is derived from the
 * tasks in the store, so a manager restart or a leader change loses nothing.
 *
 * Backoff rule (our documented choice):
 * - a task the orchestrator creates as a restart records the wait it chose before it
 *   (`task.restartDelayMs`, see `PlanBuilder.restart`);
 * - when the task that just died was itself a restart (has `restartDelayMs`, W) and lived less
 *   than `resetAfterMs` (10 s), the next wait is 2 × W, at least `minBackoffMs` (so
 *   `delayMs: 0` cannot crash-loop) and at most `maxDelayMs` (5 min), never below the
 *   user's `delayMs`;
 * - otherwise (it lived at least `resetAfterMs`, or it was not a restart: first task of a
 *   slot, moved off a drained or lost node, created by an update) the wait is `delayMs`.
 * The wait is read from the dead task itself, never from the gap between tasks: tasks in
 * between may be gone (a task replaced off a lost node is deleted) or may not have been
 * restarts, and a manager that was down stretches the gap; any of those would inflate the
 * backoff. A task written before the field existed counts as not a restart: an upgrade
 * resets a running crash loop's backoff to `delayMs` once, which is harmless.
 * A task's life is measured from its creation to its death, so a task rejected because its
 * image cannot be pulled counts as a quick failure and backs off.
 */

/** Tuning of the restart backoff; the defaults are what Flotilla ships. */
export interface RestartTuning {
  /** Smallest wait once restarts back off. Default 1 s. */
  readonly minBackoffMs: number;
  /** Largest wait between restarts. Default 5 min. */
  readonly maxDelayMs: number;
  /** A task that lived this long resets the backoff. Default 10 s. */
  readonly resetAfterMs: number;
}

export const DEFAULT_RESTART_TUNING: RestartTuning = {
  minBackoffMs: 1_000,
  maxDelayMs: 300_000,
  resetAfterMs: 10_000,
};

/** Whether a dead task ended by itself (exited, failed, was rejected or lost by its agent). */
export function endedByItself(t: Task): boolean {
  return isSelfEnded(t.status.state);
}

/** Whether a task that ended successfully: state complete with exit code 0 (or none). */
export function succeeded(t: Task): boolean {
  return t.status.state === 'complete' && (t.status.exitCode ?? 0) === 0;
}

/**
 * Whether the restart condition allows restarting a task that died while desired running.
 * `on-failure` restarts everything but a successful exit: failed, rejected, orphaned, and a
 * task stopped behind our back (state shutdown while desired running).
 */
export function conditionAllows(condition: RestartCondition, dead: Task): boolean {
  switch (condition) {
    case 'none':
      return false;
    case 'any':
      return true;
    case 'on-failure':
      return !succeeded(dead);
  }
}

export type RestartDecision =
  | { readonly restart: false; readonly reason: string }
  | { readonly restart: true; readonly at: number; readonly delayMs: number; readonly attempt: number };

/** When the task died: its terminal status timestamp (creation time if unreadable). */
export function deathTime(t: Task): number {
  return timeOf(t.status.timestamp, timeOf(t.createdAt));
}

/** How long to wait after `dead` died before its replacement is created. */
export function restartDelay(dead: Task, policy: RestartPolicy, tuning: RestartTuning): number {
  const lived = deathTime(dead) - timeOf(dead.createdAt);
  // Not a restart (or from before `restartDelayMs` existed), or it ran long enough: reset.
  if (lived >= tuning.resetAfterMs || dead.restartDelayMs === undefined) return policy.delayMs;
  const grown = Math.max(tuning.minBackoffMs, 2 * dead.restartDelayMs);
  // The cap bounds the backoff, never the user's own delay.
  return Math.max(policy.delayMs, Math.min(tuning.maxDelayMs, grown));
}

/**
 * Whether and when to replace `dead`, a task of `group` that died while desired running.
 * `group` is every task of the slot (or of the global service on that node), `dead` included.
 * `maxAttempts` counts earlier restarts (dead tasks of the group that ended by themselves and
 * were replaced) whose death falls within `windowMs` before this death; the count does not
 * depend on the current time, so a slot that gave up stays given up.
 */
export function decideRestart(
  dead: Task,
  group: readonly Task[],
  policy: RestartPolicy,
  tuning: RestartTuning,
): RestartDecision {
  if (!conditionAllows(policy.condition, dead)) {
    return { restart: false, reason: `restart condition "${policy.condition}" keeps a ${dead.status.state} task down` };
  }
  const died = deathTime(dead);
  const windowStart = policy.windowMs > 0 ? died - policy.windowMs : -Infinity;
  let attempts = 0;
  for (const t of group) {
    if (t.id === dead.id || t.desiredState === 'running') continue;
    if (!isTerminal(t.status.state) || !endedByItself(t)) continue;
    const d = deathTime(t);
    if (d >= windowStart && d <= died) attempts++;
  }
  if (policy.maxAttempts > 0 && attempts >= policy.maxAttempts) {
    return { restart: false, reason: `gave up after ${attempts} restart attempts` };
  }
  const delayMs = restartDelay(dead, policy, tuning);
  return { restart: true, at: died + delayMs, delayMs, attempt: attempts + 1 };
}
