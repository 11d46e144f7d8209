import type { Service, ServiceMode, ServiceSpec } from './service.ts';
import type { Task } from './task.ts';
import { isSelfEnded, isTerminal } from './task-state.ts';

/**
 * Jobs (`replicated-job`, `global-job`): their targets and how far their current run got, as
 * pure functions of the service and its tasks. A *run* is the service's current `specVersion`:
 * a spec change or a new replica count bumps it and starts the job again; tasks of earlier
 * runs do not count. Shared by the orchestrator (what to start), the scheduler's dependency
 * gate (`service_completed_successfully`) and the CLI.
 */

/** Whether the mode runs tasks to completion instead of keeping them running. */
export function isJobMode(mode: ServiceMode): boolean {
  return mode === 'replicated-job' || mode === 'global-job';
}

/** What a `replicated-job` runs: `maxConcurrent` tasks at a time until `totalCompletions` succeeded. */
export interface JobTarget {
  readonly maxConcurrent: number;
  readonly totalCompletions: number;
}

/** The job options with their defaults: `maxConcurrent` = `replicas`, `totalCompletions` = `maxConcurrent`. */
export function jobTarget(spec: ServiceSpec): JobTarget {
  const maxConcurrent = spec.job?.maxConcurrent ?? spec.replicas;
  return { maxConcurrent, totalCompletions: spec.job?.totalCompletions ?? maxConcurrent };
}

/** A task that ended by itself with success: state `complete`, exit code 0 (or none). */
export function succeeded(t: Task): boolean {
  return t.status.state === 'complete' && (t.status.exitCode ?? 0) === 0;
}

/** A task that ended by itself without success (non-zero exit, failed, rejected, lost). */
export function failedAttempt(t: Task): boolean {
  return isSelfEnded(t.status.state) && !succeeded(t);
}

/** How far a job's current run got. */
export interface JobProgress {
  /** Successful completions of the current run (one per slot or node at most). */
  readonly completed: number;
  /** Completions the run needs (`totalCompletions`; for a global job, the nodes it runs on). */
  readonly wanted: number;
  /** Tasks of the run not ended yet. */
  readonly active: number;
  /** Attempts of the run that ended without success (restarted or not). */
  readonly failed: number;
  /** Every wanted completion succeeded. A global job with no task yet is not done. */
  readonly done: boolean;
}

/**
 * The progress of `service`'s current run from `tasks` (every task of the service). For a
 * global job, `wanted` is the nodes that hold a wanted task of the run (desired running).
 */
export function jobProgress(service: Service, tasks: readonly Task[]): JobProgress {
  const current = tasks.filter((t) => t.specVersion >= service.specVersion);
  const doneKeys = new Set<string>();
  let active = 0;
  let failed = 0;
  const wantedKeys = new Set<string>();
  for (const t of current) {
    const key = t.slot !== undefined ? `s${t.slot}` : `n${t.nodeId ?? t.id}`;
    if (succeeded(t)) doneKeys.add(key);
    else if (failedAttempt(t)) failed++;
    else if (!isTerminal(t.status.state) && t.desiredState === 'running') active++;
    if (t.desiredState === 'running') wantedKeys.add(key);
  }
  const completed = doneKeys.size;
  if (service.spec.mode === 'global-job') {
    const wanted = wantedKeys.size;
    const done = wanted > 0 && [...wantedKeys].every((k) => doneKeys.has(k));
    return { completed, wanted, active, failed, done };
  }
  const wanted = jobTarget(service.spec).totalCompletions;
  return { completed, wanted, active, failed, done: completed >= wanted };
}
