import type { HealthState } from '../drivers/driver.ts';

/**
 * The pure core of a health check: how one probe result moves a task's health, with Docker's
 * rules, so a spec health check means the same on every driver.
 * - A passing probe makes the task `healthy` and clears the failure streak (an `unhealthy`
 *   task recovers on a pass, as in Docker).
 * - A failing probe adds to the streak; `retries` consecutive failures make it `unhealthy`.
 * - During the start period a task that has not passed yet is still `starting`: its failures
 *   do not count (once it has passed, they do).
 */

/** The timing of a health check, in milliseconds (the spec's `Healthcheck` minus its probe). */
export interface HealthTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failures that make the task unhealthy (at least 1). */
  readonly retries: number;
  readonly startPeriodMs: number;
}

/** One probe's result. */
export interface ProbeResult {
  readonly ok: boolean;
  /** What the probe said: its output, or why it failed ("connect ECONNREFUSED 10.0.0.2:80"). */
  readonly output: string;
}

export interface CheckState {
  readonly health: HealthState;
  /** Consecutive failures counted so far. */
  readonly failures: number;
}

/** The state of a check that has not probed yet. */
export const STARTING: CheckState = Object.freeze({ health: 'starting', failures: 0 });

/**
 * The check's next state after `result`. `inStartPeriod`: the probe ran within the start period
 * (measured from when the task started).
 */
export function judge(state: CheckState, result: ProbeResult, timing: HealthTiming, inStartPeriod: boolean): CheckState {
  if (result.ok) return { health: 'healthy', failures: 0 };
  if (inStartPeriod && state.health === 'starting') return state;
  const failures = state.failures + 1;
  return { health: failures >= Math.max(1, timing.retries) ? 'unhealthy' : state.health, failures };
}
