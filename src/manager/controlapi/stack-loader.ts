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
  readonly resolve: (load: StackLoad) => void;
  readonly reject: (err: Error) => void;
  readonly timer: TimerHandle;
}

const WORKER_URL = new URL(`./stack-load-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/** One worker thread, started on first use, one load at a time (the next waits for it). */
export class StackLoader {
  readonly #clock: Clock;
  readonly #deadlineMs: number;
  readonly #maxHeapMb: number;
  #worker: Worker | undefined;
  #inFlight: InFlight | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #nextId = 1;
  #closed = false;

  constructor(clock: Clock, options: StackLoaderOptions = {}) {
    this.#clock = clock;
    this.#deadlineMs = options.deadlineMs ?? 20_000;
    this.#maxHeapMb = options.maxHeapMb ?? 256;
  }

  /** `loadStack(spec)` in the worker; rejects with the ApiError it threw, or one for a load over its deadline or heap. */
  load(spec: StackSpec): Promise<StackLoad> {
    const run = this.#tail.then(() => this.#run(spec));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Ends the worker; loads after this are refused. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    this.#fail(new ApiError('unavailable', 'the manager is stopping'));
    if (w) await w.terminate();
  }

  #run(spec: StackSpec): Promise<StackLoad> {
    if (this.#closed) return Promise.reject(new ApiError('unavailable', 'the manager is stopping'));
    const worker = this.#ensureWorker();
    return new Promise<StackLoad>((resolve, reject) => {
      const id = this.#nextId++;
      const timer = this.#clock.setTimer(this.#deadlineMs, () => {
        this.#fail(new ApiError('invalid_argument', `loading the compose files took longer than ${this.#deadlineMs} ms; the limit is ${this.#deadlineMs} ms`));
        this.#kill();
      });
      this.#inFlight = { id, resolve, reject, timer };
      worker.postMessage({ id, spec } satisfies LoadRequest);
    });
  }

  #ensureWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: this.#maxHeapMb, maxYoungGenerationSizeMb: 32 } });
    worker.unref();
    worker.on('message', (reply: LoadReply) => {
      const f = this.#inFlight;
      if (!f || f.id !== reply.id) return;
      this.#inFlight = undefined;
      f.timer.cancel();
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
      );
    });
    worker.on('exit', () => {
      if (this.#worker === worker) this.#worker = undefined;
      this.#fail(new ApiError('internal', 'the stack loader stopped'));
    });
    this.#worker = worker;
    return worker;
  }

  #fail(err: Error): void {
    const f = this.#inFlight;
    if (!f) return;
    this.#inFlight = undefined;
    f.timer.cancel();
    f.reject(err);
  }

  #kill(): void {
    const w = this.#worker;
    this.#worker = undefined;
    if (w) void w.terminate();
  }
}

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
