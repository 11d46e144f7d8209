import { systemClock, type Clock } from '../lib/clock.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { isBackendError, type Backend, type Fence, type TxnOptions, type TxnResult, type WatchBatch, type WatchHandle } from './backend.ts';
import { StoreError } from './errors.ts';
import { decodeObject, parseKey, toStoreEvent, type StoreEvent, type StoreEventListener } from './events.ts';
import { MemTable } from './mem-table.ts';
import {
  KEY_ROOT,
  TABLES,
  type Kind,
  type NodesReader,
  type ObjectKinds,
  type ServicesReader,
  type StoredObject,
  type TableReader,
  type TasksReader,
} from './tables.ts';
import { Tx, type MemTables, type Plan } from './tx.ts';

export { StoreError, isStoreError, type StoreErrorCode } from './errors.ts';
export type { StoreAction, StoreEvent, StoreEventListener } from './events.ts';
export type {
  Kind,
  NewObject,
  NodesReader,
  NodesTx,
  ObjectKinds,
  ServicesReader,
  ServicesTx,
  TableReader,
  TableWriter,
  TasksReader,
  TasksTx,
} from './tables.ts';
export type { Tx } from './tx.ts';

/** Options of `Store.open`. */
export interface StoreOptions {
  /** Source of `createdAt`/`updatedAt`. Default: the system clock. */
  clock?: Clock;
  /** Where a throwing watch listener is reported. Default: a logger on standard error. */
  logger?: Logger;
  /** `close()` also closes the backend. Default false: whoever opened the backend closes it. */
  closeBackend?: boolean;
  /** Objects written per backend commit in `batch`. Default 1,000. */
  batchChunkSize?: number;
  /** Told about every backend commit (latency, objects written). Default: nothing. */
  metrics?: StoreMetrics;
}

/** How a commit ended: applied, refused by a compare (a conflict), or failed. */
export type CommitOutcome = 'committed' | 'conflict' | 'error';

/**
 * What the store tells a metrics recorder (the manager's `/metrics`). `commitStarted` is called
 * as a transaction goes to the backend; the function it returns once it is applied to memory
 * (or refused, or failed), with the number of objects it put or deleted. The recorder times it.
 */
export interface StoreMetrics {
  commitStarted(): (writes: number, outcome: CommitOutcome) => void;
}

const NO_METRICS: StoreMetrics = { commitStarted: () => () => {} };

interface CompiledOptions {
  clock: Clock;
  logger: Logger;
  closeBackend: boolean;
  batchChunkSize: number;
  metrics: StoreMetrics;
}

function compileOptions(o: StoreOptions): CompiledOptions {
  const batchChunkSize = o.batchChunkSize ?? 1_000;
  if (!Number.isInteger(batchChunkSize) || batchChunkSize < 1) {
    throw new StoreError('invalid', `batchChunkSize must be a positive integer, got ${batchChunkSize}`);
  }
  return {
    clock: o.clock ?? systemClock,
    logger: o.logger ?? createLogger(),
    closeBackend: o.closeBackend ?? false,
    batchChunkSize,
    metrics: o.metrics ?? NO_METRICS,
  };
}

/** What `batch` hands its callback: queue one small transaction per call. */
export interface Batch {
  /**
   * Queues `fn` to run as part of the batch. It sees the effects of the ones queued before it;
   * if it throws, its writes are dropped and the error reported. It may run twice (when its
   * chunk lost a race it is retried alone), so it must only read and write through `tx`.
   */
  update(fn: (tx: Tx) => void): void;
}

export interface BatchResult {
  /** Callbacks whose writes were committed (or that wrote nothing and did not throw). */
  committed: number;
  /** Callbacks that threw or conflicted, by their position in the batch, in order. */
  errors: Array<{ index: number; error: Error }>;
}

export interface WatchOptions {
  /** Only these kinds. Default: every kind. */
  kinds?: readonly Kind[];
}

interface Listener {
  readonly fn: StoreEventListener;
  readonly kinds: ReadonlySet<Kind> | undefined;
  active: boolean;
}

interface Waiter {
  readonly revision: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/**
 * The cluster state in memory, kept current from the backend. The contract every component
 * codes against is in `README.md`: synchronous snapshot reads, `update` transactions with
 * optimistic concurrency, `batch` for many small updates, `watch` for committed changes.
 */
export class Store {
  readonly nodes: NodesReader;
  readonly services: ServicesReader;
  readonly tasks: TasksReader;
  readonly #backend: Backend;
  readonly #opts: CompiledOptions;
  readonly #mem: MemTables;
  #revision = 0;
  #watch: WatchHandle | undefined;
  #listeners: Listener[] = [];
  /** Objects of in-flight commits by key, to reuse them instead of parsing their JSON back. */
  readonly #pending = new Map<string, Plan['puts'][number]>();
  #waiters: Waiter[] = [];
  #closed = false;
  #failure: Error | undefined;
  /** The store that owns the state; `this` except for a fenced view (`fenced`). */
  readonly #owner: Store;
  /** A fenced view's current fence; undefined for the store itself. */
  readonly #fence: (() => Fence | undefined) | undefined;
  /** A fenced view's: told when the backend refused a fence. */
  readonly #onRefused: ((refused: Fence) => void) | undefined;

  /** Loads every object from `backend` and follows its changes from then on. */
  static async open(backend: Backend, options: StoreOptions = {}): Promise<Store> {
    const store = new Store(backend, compileOptions(options));
    await store.#load();
    return store;
  }

  private constructor(backend: Backend, opts: CompiledOptions, view?: { owner: Store; fence: () => Fence | undefined; onRefused?: (refused: Fence) => void }) {
    this.#backend = backend;
    this.#opts = opts;
    this.#owner = view?.owner ?? this;
    this.#fence = view?.fence;
    this.#onRefused = view?.onRefused;
    this.#mem = view ? view.owner.#mem : {
      node: new MemTable(TABLES.node),
      service: new MemTable(TABLES.service),
      task: new MemTable(TABLES.task),
      cluster: new MemTable(TABLES.cluster),
      clusterKey: new MemTable(TABLES.clusterKey),
      secret: new MemTable(TABLES.secret),
      config: new MemTable(TABLES.config),
      stack: new MemTable(TABLES.stack),
      network: new MemTable(TABLES.network),
      image: new MemTable(TABLES.image),
    };
    this.nodes = this.#mem.node;
    this.services = this.#mem.service;
    this.tasks = this.#mem.task;
  }

  /** The last revision applied to memory. */
  get revision(): number {
    return this.#owner.#revision;
  }

  /**
   * A view of this store whose every commit is fenced on a term of leadership: `fence()` is
   * read at each commit, and the backend commits only while that term holds (etcd: the leader
   * key still exists with that createRevision, checked in the same transaction). A commit
   * without a fence, or whose fence no longer holds, fails `StoreError('fenced')` with nothing
   * written. Reads, watch and the state are the store's own (shared, not copied); closing the
   * view does nothing. The leader loops get one (`LeaderLoopDeps.store`); the API writes
   * through the store itself, unfenced. `onRefused` is called when the backend refused a
   * fence (the term ended though `fence()` still named it: the leadership should look again).
   */
  fenced(fence: () => Fence | undefined, onRefused?: (refused: Fence) => void): Store {
    return new Store(this.#backend, this.#opts, { owner: this.#owner, fence, ...(onRefused ? { onRefused } : {}) });
  }

  /** The committed table of any kind, for code that is generic over kinds. */
  table<K extends Kind>(kind: K): TableReader<ObjectKinds[K]> {
    return this.#mem[kind];
  }

  /**
   * Runs `fn` against the current state plus its own writes, commits the writes with a compare
   * on every object written, and resolves once the commit is applied to memory with `fn`'s
   * result (an object `fn` wrote comes back as committed, with its new version).
   * Rejects with `StoreError`: `conflict`, `not_found`, `already_exists`, `invalid`, `closed`.
   */
  async update<R>(fn: (tx: Tx) => R): Promise<R> {
    this.#checkOpen();
    const tx = new Tx(this.#mem, this.#opts.clock, { savepoints: false });
    let result: R;
    try {
      result = fn(tx);
    } finally {
      tx.end();
    }
    if (isThenable(result)) throw asyncCallback();
    const plan = tx.plan();
    if (plan.ops.length === 0) return result;
    const r = await this.#commit(plan);
    if (!r.succeeded) throw conflictError(r);
    return tx.resolveResult(result);
  }

  /**
   * Runs many small updates, committing them in chunks of `batchChunkSize` objects per backend
   * transaction. A callback that throws is skipped and reported; a chunk that loses a race
   * (an object changed under it) is retried callback by callback, so one stale object does
   * not sink the rest.
   */
  async batch(fn: (b: Batch) => void): Promise<BatchResult> {
    this.#checkOpen();
    const queued: Array<(tx: Tx) => void> = [];
    let open = true;
    fn({
      update: (cb) => {
        if (!open) throw new StoreError('invalid', 'batch.update called after the batch callback returned');
        queued.push(cb);
      },
    });
    open = false;
    const errors: BatchResult['errors'] = [];
    let committed = 0;
    let i = 0;
    // A backend with limits (etcd) commits fewer objects at once cheaply (one etcd txn; more are
    // staged, atomically but at twice the writes); an object may write two keys.
    const limits = this.#backend.limits;
    const chunkSize = limits ? Math.max(1, Math.min(this.#opts.batchChunkSize, Math.floor(limits.maxOps / 2))) : this.#opts.batchChunkSize;
    while (i < queued.length) {
      this.#checkOpen();
      const tx = new Tx(this.#mem, this.#opts.clock, { savepoints: true });
      const ran: number[] = [];
      while (i < queued.length && tx.writes < chunkSize) {
        const savepoint = tx.savepoint();
        try {
          if (isThenable(queued[i]!(tx))) throw asyncCallback();
          ran.push(i);
        } catch (err) {
          tx.rollbackTo(savepoint);
          errors.push({ index: i, error: toError(err) });
        }
        i++;
      }
      tx.end();
      const plan = tx.plan();
      let r: TxnResult | undefined;
      try {
        r = plan.ops.length === 0 ? undefined : await this.#commit(plan);
      } catch (err) {
        // Over what the backend commits at once at all (its cap): commit callback by callback below.
        if (!(isBackendError(err) && err.code === 'too_large' && ran.length > 1)) throw err;
      }
      if (r?.succeeded === true || (r === undefined && plan.ops.length === 0)) {
        committed += ran.length;
        continue;
      }
      if (r) await this.#owner.#applied(r.revision); // catch up with whoever changed things under us
      for (const index of ran) {
        try {
          await this.update(queued[index]!);
          committed++;
        } catch (err) {
          errors.push({ index, error: toError(err) });
        }
      }
    }
    errors.sort((a, b) => a.index - b.index);
    return { committed, errors };
  }

  /**
   * Calls `listener` synchronously after each committed transaction is applied to memory,
   * once per changed object, in commit order. Subscribe and read the snapshot in the same
   * synchronous step to miss nothing. Returns the unsubscribe function.
   */
  watch(listener: StoreEventListener, options: WatchOptions = {}): () => void {
    if (this.#owner !== this) return this.#owner.watch(listener, options);
    this.#checkOpen();
    const l: Listener = { fn: listener, kinds: options.kinds ? new Set(options.kinds) : undefined, active: true };
    this.#listeners = [...this.#listeners, l];
    return () => {
      if (!l.active) return;
      l.active = false;
      this.#listeners = this.#listeners.filter((x) => x !== l);
    };
  }

  /**
   * Every change after `revision` from the backend's history, then live ones, as store events.
   * `onError` gets a `BackendError` with code `compacted` when `revision` is older than the
   * kept history (re-read the state and watch from `store.revision` instead).
   */
  changesSince(
    revision: number,
    onEvent: StoreEventListener,
    onError: (err: Error) => void,
    options: WatchOptions = {},
  ): { close(): void } {
    this.#checkOpen();
    const kinds = options.kinds ? new Set(options.kinds) : undefined;
    return this.#backend.watch(
      revision,
      (batch) => {
        for (const ev of batch.events) {
          const se = toStoreEvent(ev);
          if (se && (!kinds || kinds.has(se.kind))) onEvent(se);
        }
      },
      onError,
    );
  }

  /** Stops following the backend; pending and later calls fail `closed`. Idempotent. A fenced view's does nothing. */
  async close(): Promise<void> {
    if (this.#closed || this.#owner !== this) return;
    this.#closed = true;
    this.#watch?.close();
    this.#listeners = [];
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(closedError());
    if (this.#opts.closeBackend) await this.#backend.close();
  }

  async #load(): Promise<void> {
    const { kvs, revision } = await this.#backend.range(KEY_ROOT);
    for (const kv of kvs) {
      const k = parseKey(kv.key);
      if (!k) continue;
      (this.#mem[k.kind] as unknown as MemTable<StoredObject>).set(decodeObject(kv.value, kv.modRevision));
    }
    this.#revision = revision;
    this.#watch = this.#backend.watch(
      revision,
      (b) => this.#apply(b),
      (e) => this.#fail(e),
    );
  }

  async #commit(plan: Plan): Promise<TxnResult> {
    const o = this.#owner;
    let options: TxnOptions | undefined;
    if (this.#fence) {
      const fence = this.#fence();
      if (!fence) throw fencedError();
      options = { fence };
    }
    for (const p of plan.puts) o.#pending.set(p.key, p);
    const done = this.#opts.metrics.commitStarted();
    let r: TxnResult;
    try {
      r = await this.#backend.txn(plan.compares, plan.ops, options);
    } catch (err) {
      done(plan.ops.length, 'error');
      o.#dropPending(plan);
      if (isBackendError(err) && err.code === 'closed') throw closedError(err);
      if (isBackendError(err) && err.code === 'fenced') {
        if (options?.fence) this.#onRefused?.(options.fence);
        throw fencedError(err);
      }
      throw err;
    }
    if (!r.succeeded) {
      done(plan.ops.length, 'conflict');
      o.#dropPending(plan);
      return r;
    }
    await o.#applied(r.revision);
    done(plan.ops.length, 'committed');
    return r;
  }

  #dropPending(plan: Plan): void {
    for (const p of plan.puts) if (this.#pending.get(p.key) === p) this.#pending.delete(p.key);
  }

  /** Applies one committed transaction to memory, then tells the listeners and waiters. */
  #apply(batch: WatchBatch): void {
    if (this.#closed) return;
    const events: StoreEvent[] | undefined = this.#listeners.length > 0 ? [] : undefined;
    const revision = batch.revision;
    for (const ev of batch.events) {
      const k = parseKey(ev.key);
      if (!k) continue;
      const table = this.#mem[k.kind] as unknown as MemTable<StoredObject>;
      const kind = k.kind;
      if (ev.type === 'put') {
        const p = this.#pending.get(ev.key);
        let object: StoredObject;
        if (p !== undefined && p.value === ev.value) {
          this.#pending.delete(ev.key);
          object = Object.freeze({ ...p.object, version: ev.modRevision });
        } else {
          object = decodeObject(ev.value ?? 'null', ev.modRevision);
        }
        const old = table.set(object);
        if (events) {
          events.push(
            (old
              ? { kind, action: 'update', object, old, revision }
              : { kind, action: 'create', object, revision }) as StoreEvent,
          );
        }
      } else {
        const old = table.remove(k.id);
        if (old && events) events.push({ kind, action: 'delete', object: old, old, revision } as StoreEvent);
      }
    }
    this.#revision = revision;
    if (events && events.length > 0) this.#emit(events);
    this.#wake();
  }

  #emit(events: StoreEvent[]): void {
    for (const l of this.#listeners) {
      for (const ev of events) {
        if (!l.active) break;
        if (l.kinds && !l.kinds.has(ev.kind)) continue;
        try {
          l.fn(ev);
        } catch (err) {
          this.#opts.logger.error({ err, kind: ev.kind, id: ev.object.id }, 'store watch listener threw');
        }
      }
    }
  }

  #applied(revision: number): Promise<void> {
    if (this.#revision >= revision) return Promise.resolve();
    if (this.#closed) return Promise.reject(closedError());
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiters.push({ revision, resolve, reject }));
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiters) {
      if (w.revision <= this.#revision) w.resolve();
      else still.push(w);
    }
    this.#waiters = still;
  }

  /** The backend stopped feeding us: memory can no longer be trusted to catch up. */
  #fail(err: Error): void {
    this.#opts.logger.error({ err }, 'store lost its backend watch');
    this.#failure = err;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(err);
  }

  #checkOpen(): void {
    if (this.#owner.#closed) throw closedError();
  }
}

function conflictError(r: TxnResult): StoreError {
  const key = r.failed?.key ?? '';
  const obj = parseKey(key);
  for (const def of Object.values(TABLES)) {
    if (def.unique && key.startsWith(def.unique.prefix)) {
      const name = key.slice(def.unique.prefix.length);
      return new StoreError('already_exists', `${def.kind} ${def.unique.index} "${name}" is already taken`);
    }
  }
  if (r.failed?.modRevision === 0) {
    return new StoreError('already_exists', `${obj?.kind ?? 'object'} ${obj?.id ?? key} already exists`);
  }
  return new StoreError(
    'conflict',
    `${obj?.kind ?? 'object'} ${obj?.id ?? key} was changed by another writer since version ${r.failed?.modRevision}; read it again and retry`,
  );
}

function closedError(cause?: unknown): StoreError {
  return new StoreError('closed', 'the store is closed', cause === undefined ? undefined : { cause });
}

function fencedError(cause?: unknown): StoreError {
  return new StoreError(
    'fenced',
    'not written: this manager no longer holds the leadership this write was fenced on (another manager may lead now)',
    cause === undefined ? undefined : { cause },
  );
}

function asyncCallback(): StoreError {
  return new StoreError('invalid', 'store transaction callbacks must be synchronous (do the awaiting before update/batch)');
}

function isThenable(v: unknown): boolean {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
