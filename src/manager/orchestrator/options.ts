import { compileBackoff, type BackoffOptions, type CompiledBackoff } from '../../lib/backoff.ts';
import type { PlanOptions } from './builder.ts';
import { DEFAULT_RESTART_TUNING, type RestartTuning } from './restart.ts';

/** Public options of the orchestrator; every field optional with a documented default. */
export interface OrchestratorOptions {
  /** Dead tasks kept per slot (per node for global services). Default 5; at least 1 is kept. */
  taskHistoryLimit?: number;
  /** Services reconciled at the same time. Default 4. */
  concurrency?: number;
  /** Retries of a reconcile that failed (store conflict, unavailable). Default 100 ms doubling to 10 s. */
  retry?: BackoffOptions;
  /** Restart backoff tuning: minBackoffMs 1 s, maxDelayMs 5 min, resetAfterMs 10 s. */
  restart?: Partial<RestartTuning>;
}

/** The fully-required form, compiled once in the constructor. */
export interface CompiledOrchestratorOptions {
  readonly plan: PlanOptions;
  readonly concurrency: number;
  readonly retry: CompiledBackoff;
  readonly retryOptions: BackoffOptions;
}

export function compileOrchestratorOptions(o: OrchestratorOptions = {}): CompiledOrchestratorOptions {
  const taskHistoryLimit = o.taskHistoryLimit ?? 5;
  if (!Number.isInteger(taskHistoryLimit) || taskHistoryLimit < 0) {
    throw new RangeError(`taskHistoryLimit must be a non-negative integer, got ${taskHistoryLimit}`);
  }
  const concurrency = o.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  }
  const restart: RestartTuning = { ...DEFAULT_RESTART_TUNING, ...stripUndefined(o.restart ?? {}) };
  for (const [k, v] of Object.entries(restart)) {
    if (!(typeof v === 'number' && v >= 0)) throw new RangeError(`restart.${k} must be a number >= 0, got ${String(v)}`);
  }
  const retryOptions: BackoffOptions = { initialMs: 100, maxMs: 10_000, ...o.retry };
  return { plan: { taskHistoryLimit, restart }, concurrency, retry: compileBackoff(retryOptions), retryOptions };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
