import type { Clock } from '../../lib/clock.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';
import { Lifecycle, type LifecycleState } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import type { BackoffOptions } from '../../lib/backoff.ts';
import { WorkQueue, type ReconcileResult } from '../../lib/work-queue.ts';
import type { Store, StoreEvent } from '../../store/store.ts';
import { allocate, needsAllocation } from './allocate.ts';
import { TASK_ALLOCATORS } from './allocators.ts';
import type { TaskAllocator } from './task-allocator.ts';

export interface AllocatorDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface AllocatorOptions {
  /** Retries after a failed batch. Default 100 ms doubling to 10 s. */
  retry?: BackoffOptions;
  /** How long a task an allocator refused waits before the ballot runs again. Default 1 s. */
  retryRefusedMs?: number;
  /** The ballot, in order. Default `TASK_ALLOCATORS`; tests pass their own. */
  allocators?: readonly TaskAllocator[];
}

/** Errors of the allocator boundary; logged by the work queue, which retries. */
export class AllocatorError extends CodedError<'allocate_failed'> {
  override readonly name = 'AllocatorError';
  readonly taskIds: readonly string[];

  constructor(message: string, taskIds: readonly string[], options?: { cause?: unknown }) {
    super('allocate_failed', message, options);
    this.taskIds = taskIds;
  }
}

export const isAllocatorError = errorGuard(AllocatorError);

/** The single work-queue key: new tasks are allocated together, in one store batch. */
const ALL = 'new-tasks';

/**
 * Moves tasks from `new` to `pending` once every allocator of the ballot (`allocators.ts`)
 * signed off. Watches tasks; every new task wanted running is a candidate; a reconcile
 * re-reads each candidate inside its transaction and runs the ballot on it. A task an
 * allocator refused stays `new` with the reason as its message and is tried again later.
 */
export class Allocator {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queue: WorkQueue<string>;
  readonly #retryRefusedMs: number;
  readonly #allocators: readonly TaskAllocator[];
  /** Tasks that may need allocation (re-checked against the store when handled). */
  #candidates = new Set<string>();
  readonly #lifecycle = new Lifecycle('allocator');
  #unsubscribe: (() => void) | undefined;

  constructor(deps: AllocatorDeps, options: AllocatorOptions = {}) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ component: 'allocator' });
    this.#retryRefusedMs = options.retryRefusedMs ?? 1_000;
    this.#allocators = options.allocators ?? TASK_ALLOCATORS;
    this.#queue = new WorkQueue<string>(
      { clock: this.#clock, reconcile: () => this.reconcile() },
      {
        retry: { initialMs: 100, maxMs: 10_000, ...options.retry },
        onError: (_key, err, failures, retryInMs) =>
          this.#log.warn({ err, failures, retryInMs }, 'allocating tasks failed; will retry'),
      },
    );
  }

  get state(): LifecycleState {
    return this.#lifecycle.state;
  }

  async start(): Promise<void> {
    this.#lifecycle.start();
    this.#unsubscribe = this.#store.watch((ev) => this.#onEvent(ev), { kinds: ['task'] });
    for (const t of this.#store.tasks.byDesiredState('running')) if (needsAllocation(t)) this.#candidates.add(t.id);
    if (this.#candidates.size > 0) this.#queue.add(ALL);
    return Promise.resolve();
  }

  /** Idempotent; waits for a running batch. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async (from) => {
      if (from === 'new') return;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      await this.#queue.stop();
    });
  }

  /** Resolves when no allocation is queued or running. */
  whenIdle(): Promise<void> {
    return this.#queue.whenIdle();
  }

  /** Allocates every candidate in one store batch; called by the work queue. */
  async reconcile(): Promise<ReconcileResult | undefined> {
    if (!this.#lifecycle.running || this.#candidates.size === 0) return undefined;
    const ids = [...this.#candidates];
    this.#candidates = new Set();
    const now = this.#clock.now();
    const refused: string[] = [];
    const result = await this.#store.batch((b) => {
      for (const id of ids) {
        b.update((tx) => {
          const t = tx.tasks.get(id);
          if (!t) return;
          const service = tx.services.get(t.serviceId);
          const next = allocate(t, service, now, this.#allocators);
          if (next) tx.tasks.update(next);
          if (service !== undefined && needsAllocation(next ?? t)) refused.push(id);
        });
      }
    });
    // Refused tasks are tried again later, whether or not other writes of the batch failed.
    for (const id of refused) this.#candidates.add(id);
    if (result.errors.length > 0) {
      const failed = result.errors.map((e) => ids[e.index]).filter((id): id is string => id !== undefined);
      for (const id of failed) this.#candidates.add(id);
      throw new AllocatorError(`${failed.length} of ${ids.length} tasks could not be allocated`, failed, {
        cause: result.errors[0]?.error,
      });
    }
    if (refused.length === 0) return undefined;
    return { requeueAfterMs: this.#retryRefusedMs };
  }

  #onEvent(ev: StoreEvent): void {
    if (ev.kind !== 'task' || ev.action === 'delete') return;
    if (!needsAllocation(ev.object)) return;
    this.#candidates.add(ev.object.id);
    this.#queue.add(ALL);
  }
}
