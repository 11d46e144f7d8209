import { backoffDelay, compileBackoff, type BackoffOptions, type CompiledBackoff } from './backoff.ts';
import type { Clock, TimerHandle } from './clock.ts';

/**
 * A level-triggered work queue, as Kubernetes controllers use: events only mark a key dirty;
 * a worker later calls the reconciler with the key, and the reconciler re-reads the world.
 *
 * Guarantees:
 * - a key is queued at most once however often it is marked;
 * - one worker per key at a time; a key marked while it is being processed runs again after;
 * - a reconciler that throws is retried with exponential backoff (per key, reset on success);
 * - a reconciler may ask to be called again later (`requeueAfterMs`), through the Clock.
 *
 * Work starts on a microtask after `add`, never inside the caller's stack, so it is safe to
 * mark keys from a synchronous store watch callback.
 */

/** What a reconciler may return. */
export interface ReconcileResult {
  /** Call the reconciler for this key again after this many milliseconds. */
  readonly requeueAfterMs?: number;
}

export type Reconciler<K> = (key: K) => Promise<ReconcileResult | void>;

export interface WorkQueueDeps<K> {
  readonly clock: Clock;
  readonly reconcile: Reconciler<K>;
}

export interface WorkQueueOptions<K> {
  /** Keys processed at the same time (never two for the same key). Default 1. */
  concurrency?: number;
  /** Retry delays after a reconciler fails. Default 100 ms doubling up to 30 s. */
  retry?: BackoffOptions;
  /** Told about every failure, with the failure count of the key and the chosen retry delay. */
  onError?: (key: K, error: unknown, failures: number, retryInMs: number) => void;
}

interface Delayed {
  readonly at: number;
  readonly handle: TimerHandle;
}

export type WorkQueueState = 'running' | 'stopped';

export class WorkQueue<K> {
  readonly #clock: Clock;
  readonly #reconcile: Reconciler<K>;
  readonly #concurrency: number;
  readonly #retry: CompiledBackoff;
  readonly #onError: (key: K, error: unknown, failures: number, retryInMs: number) => void;

  #state: WorkQueueState = 'running';
  readonly #ready: K[] = [];
  readonly #queued = new Set<K>();
  readonly #processing = new Set<K>();
  /** Keys marked while being processed: they go back in the queue when their worker ends. */
  readonly #redo = new Set<K>();
  readonly #delayed = new Map<K, Delayed>();
  readonly #failures = new Map<K, number>();
  readonly #inflight = new Set<Promise<void>>();
  #idleWaiters: Array<() => void> = [];
  #pumpScheduled = false;

  constructor(deps: WorkQueueDeps<K>, options: WorkQueueOptions<K> = {}) {
    this.#clock = deps.clock;
    this.#reconcile = deps.reconcile;
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`work queue concurrency must be a positive integer, got ${concurrency}`);
    }
    this.#concurrency = concurrency;
    this.#retry = compileBackoff(options.retry);
    this.#onError = options.onError ?? (() => {});
  }

  get state(): WorkQueueState {
    return this.#state;
  }

  /** Keys waiting for a worker (not counting delayed ones or ones being processed). */
  get length(): number {
    return this.#ready.length;
  }

  /** Keys with a timer pending. */
  get delayedCount(): number {
    return this.#delayed.size;
  }

  /** Marks a key dirty: it will be reconciled soon. */
  add(key: K): void {
    if (this.#state !== 'running') return;
    if (this.#processing.has(key)) {
      this.#redo.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#ready.push(key);
    this.#schedulePump();
  }

  /**
   * Marks a key dirty after `ms`. Only the earliest pending timer per key is kept: a later
   * request for a key already due sooner is dropped (the reconcile then asks again if needed).
   */
  addAfter(key: K, ms: number): void {
    if (this.#state !== 'running') return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + ms;
    const existing = this.#delayed.get(key);
    if (existing && existing.at <= at) return;
    existing?.handle.cancel();
    const handle = this.#clock.setTimer(ms, () => {
      if (this.#delayed.get(key)?.handle !== handle) return;
      this.#delayed.delete(key);
      this.add(key);
    });
    this.#delayed.set(key, { at, handle });
  }

  /** Resolves once no key is queued or being processed (delayed keys do not count). */
  whenIdle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops taking work, cancels timers and waits for running reconcilers. Idempotent. */
  async stop(): Promise<void> {
    this.#state = 'stopped';
    for (const d of this.#delayed.values()) d.handle.cancel();
    this.#delayed.clear();
    this.#ready.length = 0;
    this.#queued.clear();
    this.#redo.clear();
    this.#failures.clear();
    while (this.#inflight.size > 0) await Promise.all([...this.#inflight]);
    this.#notifyIdle();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#state === 'running' && this.#processing.size < this.#concurrency && this.#ready.length > 0) {
      const key = this.#ready.shift() as K;
      this.#queued.delete(key);
      this.#processing.add(key);
      const p = this.#run(key);
      this.#inflight.add(p);
      void p.then(() => this.#inflight.delete(p));
    }
    this.#notifyIdle();
  }

  async #run(key: K): Promise<void> {
    try {
      const result = await this.#reconcile(key);
      this.#failures.delete(key);
      const after = result?.requeueAfterMs;
      if (after !== undefined) this.addAfter(key, after);
    } catch (err) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      const delay = backoffDelay(failures, this.#retry);
      try {
        this.#onError(key, err, failures, delay);
      } catch {
        // A broken error callback must not stop the queue.
      }
      this.addAfter(key, delay);
    } finally {
      this.#processing.delete(key);
      if (this.#redo.delete(key)) this.add(key);
      this.#pump();
    }
  }

  #isIdle(): boolean {
    return this.#ready.length === 0 && this.#processing.size === 0;
  }

  #notifyIdle(): void {
    if (!this.#isIdle() || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}
