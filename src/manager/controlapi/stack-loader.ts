import { Worker } from 'node:worker_threads';
import { ApiError, type ApiErrorCode, type ErrorDetail } from '../../api/errors.ts';
import type { StackSpec } from '../../api/stack.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { LoadedStack, StackLoad } from './stack-load.ts';

/**
 * Loads stacks off the manager's event loop: `loadStack` runs in one worker thread with a
 * heap limit and a deadline per load, so the API keeps answering while a stack loads, and a
 * compose file that gets past the loader's budgets (`src/compose/budget.ts`) still cannot stall
 * or kill the manager: past the deadline or the heap limit the worker is ended, the request is
 * refused, and the next load starts a new worker. Why both: see "Loading off the event loop"
 * in this folder's README.
 */

/** What a stack load may cost before it is refused. */
export interface StackLoaderOptions {
  /** Default 20 s. Far above what the budgets allow (the largest file under budget loads in about a second). */
  readonly deadlineMs?: number;
  /** The worker's old-generation heap, MiB; default 256. */
  readonly maxHeapMb?: number;
  /**
   * Loads that may wait behind the running one; default 4. A load's deadline starts when it
   * leaves the queue, so an unbounded queue let N hostile posts delay a deploy by N deadlines;
   * past the cap a load is refused with `unavailable`.
   */
  readonly maxQueued?: number;
}

/** @internal the message to the worker */
export interface LoadRequest {
  readonly id: number;
  readonly spec: StackSpec;
}

/** @internal the worker's answer: the load, or an error as data */
export type LoadReply =
  | { readonly id: number; readonly load: StackLoad }
  | { readonly id: number; readonly error: { code: ApiErrorCode; message: string; details: ErrorDetail[] } };

interface InFlight {
  readonly id: number;
  /** The worker running this load: only its 'error' or 'exit' fails the load. */
  readonly worker: Worker;
  readonly resolve: (load: StackLoad) => void;
  readonly reject: (err: Error) => void;
  readonly timer: TimerHandle;
}

const WORKER_URL = new URL(`./stack-load-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

interface Queued {
  readonly spec: StackSpec;
  readonly resolve: (load: StackLoad) => void;
  readonly reject: (err: Error) => void;
  /** Stops listening to the request's abort signal. */
  readonly release: () => void;
}

/** One worker thread, started on first use, one load at a time (the next waits for it, a few at most). */
export class StackLoader {
  readonly #clock: Clock;
  readonly #deadlineMs: number;
  readonly #maxHeapMb: number;
  readonly #maxQueued: number;
  #worker: Worker | undefined;
  #inFlight: InFlight | undefined;
  readonly #queue: Queued[] = [];
  #nextId = 1;
  #closed = false;

  constructor(clock: Clock, options: StackLoaderOptions = {}) {
    this.#clock = clock;
    this.#deadlineMs = options.deadlineMs ?? 20_000;
    this.#maxHeapMb = options.maxHeapMb ?? 256;
    this.#maxQueued = options.maxQueued ?? 4;
  }

  /**
   * `loadStack(spec)` in the worker; rejects with the ApiError it threw, or one for a load over
   * its deadline or heap, or `unavailable` when too many loads wait already. A load whose
   * `signal` aborts while it waits is dropped from the queue (its request is gone).
   */
  load(spec: StackSpec, signal?: AbortSignal): Promise<StackLoad> {
    if (this.#closed) return Promise.reject(stopping());
    if (signal?.aborted) return Promise.reject(aborted());
    if (this.#queue.length >= this.#maxQueued) {
      return Promise.reject(
        new ApiError('unavailable', `the manager is already loading a stack with ${this.#queue.length} more waiting (at most ${this.#maxQueued}); try again shortly`),
      );
    }
    return new Promise<StackLoad>((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.#queue.indexOf(entry);
        if (at < 0) return;
        this.#queue.splice(at, 1);
        reject(aborted());
      };
      const entry: Queued = { spec, resolve, reject, release: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(entry);
      this.#next();
    });
  }

  /** Ends the worker; loads after this, and those waiting, are refused. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    this.#fail(stopping());
    for (const q of this.#queue.splice(0)) {
      q.release();
      q.reject(stopping());
    }
    if (w) await w.terminate();
  }

  /** Starts the first waiting load when none runs. */
  #next(): void {
    if (this.#inFlight || this.#closed) return;
    const q = this.#queue.shift();
    if (!q) return;
    q.release();
    const worker = this.#ensureWorker();
    const id = this.#nextId++;
    const timer = this.#clock.setTimer(this.#deadlineMs, () => {
      this.#fail(new ApiError('invalid_argument', `loading the compose files took longer than ${this.#deadlineMs} ms; the limit is ${this.#deadlineMs} ms`));
      this.#kill(worker);
    });
    this.#inFlight = { id, worker, resolve: q.resolve, reject: q.reject, timer };
    worker.postMessage({ id, spec: q.spec } satisfies LoadRequest);
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb, maxYoungGenerationSizeMb: 32 } });
    worker.unref();
    worker.on('message', (reply: LoadReply) => {
      const f = this.#inFlight;
      if (!f || f.id !== reply.id) return;
      this.#settled(f);
      if ('error' in reply) f.reject(new ApiError(reply.error.code, reply.error.message, { details: reply.error.details }));
      else f.resolve(revive(reply.load));
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (this.#worker === worker) this.#worker = undefined;
      const heap = err.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.#fail(
        heap
          ? new ApiError('invalid_argument', `loading the compose files needed more than the ${this.#maxHeapMb} MiB of memory a stack load may use`)
          : new ApiError('internal', `the stack loader failed: ${err.message}`, { cause: err }),
        worker,
      );
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
      // A worker ended at a load's deadline exits after the next load started on a new one.
      this.#fail(new ApiError('internal', 'the stack loader stopped'), worker);
    });
    this.#worker = worker;
    return worker;
  }

  /** Fails the running load — only if it runs on `worker`, when given. */
  #fail(err: Error, worker?: Worker): void {
    const f = this.#inFlight;
    if (!f || (worker && f.worker !== worker)) return;
    this.#settled(f);
    f.reject(err);
  }

  /** The running load is done: the next may start (after the caller settles this one's promise, in the same tick). */
  #settled(f: InFlight): void {
    this.#inFlight = undefined;
    f.timer.cancel();
    queueMicrotask(() => this.#next());
  }

  #kill(worker: Worker): void {
    if (this.#worker === worker) this.#worker = undefined;
    void worker.terminate();
  }
}

const stopping = (): ApiError => new ApiError('unavailable', 'the manager is stopping');
const aborted = (): ApiError => new ApiError('unavailable', 'the request was closed before its stack was loaded');

/** Posting turns Buffers into Uint8Arrays: secret and config data become Buffers again (no copy). */
function revive(load: StackLoad): StackLoad {
  if (!('loaded' in load)) return load;
  const buf = (d: Uint8Array | undefined): Buffer | undefined => (d === undefined ? undefined : Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  const l: LoadedStack = load.loaded;
  return {
    loaded: {
      ...l,
      secrets: l.secrets.map((s) => ({ ...s, data: buf(s.data) })),
      configs: l.configs.map((c) => ({ ...c, data: buf(c.data) })),
    },
  };
}
