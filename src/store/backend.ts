import { CodedError, errorGuard } from '../lib/coded-error.ts';

/**
 * The storage backend: a key-value log with one global revision, as etcd has. Every committed
 * transaction gets the next revision; every key remembers the revision that created it and the
 * one that last modified it. The typed store (`store.ts`) is built on this interface only, so
 * a backend is a drop-in: `sqlite/` (embedded, default) and later `etcd/`. Every backend must
 * pass `backend-conformance.ts`.
 */

export interface KeyValue {
  readonly key: string;
  /** UTF-8 text; the typed store keeps JSON here. */
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
}

/** Succeeds when `key`'s modRevision equals `modRevision`; 0 means "the key must not exist". */
export interface Compare {
  readonly key: string;
  readonly modRevision: number;
}

export type Op =
  | { readonly type: 'put'; readonly key: string; readonly value: string }
  | { readonly type: 'delete'; readonly key: string };

export interface TxnResult {
  /** False when a compare failed; nothing was written then. */
  readonly succeeded: boolean;
  /** The revision the transaction committed at, or the current revision when it failed. */
  readonly revision: number;
  /** The first compare that failed. */
  readonly failed?: Compare;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** New value for a put; absent for a delete. */
  readonly value?: string;
  /**
   * The deleted value, on delete events (always present there). Put events do not carry the
   * previous value: keeping it in the history would double what every write costs, and the
   * typed store already holds the previous object in memory. `prevModRevision` tells an
   * update from a create.
   */
  readonly prevValue?: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** modRevision the key had before this change; absent when the key was created. */
  readonly prevModRevision?: number;
}

/** The changes of one committed transaction, delivered together. */
export interface WatchBatch {
  readonly revision: number;
  readonly events: readonly WatchEvent[];
}

export interface WatchHandle {
  close(): void;
}

/**
 * A term of leadership a write is made under: the write commits only while `key` (a key of the
 * backend's own, outside the store's keys: the etcd election's leader key) still exists with
 * this `createRevision` (the backend's native revision, etcd's). The check is part of the same
 * atomic transaction, so a manager that lost the leadership — even one whose timers run late —
 * writes nothing. A backend with a single writer (SQLite) has no fences and ignores one.
 */
export interface Fence {
  readonly key: string;
  readonly createRevision: number;
}

/** Options of one `Backend.txn`. */
export interface TxnOptions {
  /** Commit only while this term of leadership holds; else fail `fenced` with nothing written. */
  readonly fence?: Fence;
}

/**
 * What one txn holds cheaply, for backends that limit it (etcd: one etcd txn). A larger txn
 * may still commit (etcd stages it, atomically, at more cost) or fail `too_large` past the
 * backend's own cap; `Store.batch` cuts its chunks to these limits.
 */
export interface BackendLimits {
  /** Ops (puts and deletes) in one txn. */
  readonly maxOps: number;
  /** Bytes of keys and values in one txn. */
  readonly maxBytes: number;
}

export interface Backend {
  /** `sqlite`, `etcd`. */
  readonly name: string;
  /** Absent: no limit the store needs to know of. */
  readonly limits?: BackendLimits;
  /** Every key starting with `prefix`, in key order, and the revision they were read at. */
  range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }>;
  /**
   * Applies `ops` atomically if every compare holds (and `options.fence`, where the backend
   * has fences). An empty `ops` list still bumps nothing.
   */
  txn(compares: readonly Compare[], ops: readonly Op[], options?: TxnOptions): Promise<TxnResult>;
  /**
   * Delivers every committed transaction with revision > `fromRevision`, in order, first the
   * ones already in the log, then new ones as they commit. Fails with a `BackendError`
   * `compacted` through `onError` when `fromRevision` is older than the compacted history.
   */
  watch(fromRevision: number, onBatch: (batch: WatchBatch) => void, onError: (err: Error) => void): WatchHandle;
  /** Forgets history at or before `revision`; current values are kept. */
  compact(revision: number): Promise<void>;
  /** The oldest revision a watch may still start from. */
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}

/**
 * `unavailable`: the backend cannot be reached (etcd down or cut off; the message starts with
 * "store unavailable:"), nothing was written, or — for a txn in flight — the outcome is
 * unknown and the store's watch will tell. `too_large`: one txn exceeds what the backend
 * commits at once (etcd: `maxTxnBytes`); nothing was written. `invalid`: bad backend options.
 * `fenced`: the txn's fence no longer holds (its term of leadership ended); nothing was written.
 */
export type BackendErrorCode = 'compacted' | 'closed' | 'unavailable' | 'too_large' | 'invalid' | 'fenced' | 'internal';

export class BackendError extends CodedError<BackendErrorCode> {
  override readonly name = 'BackendError';
}

/** The error of an operation on a closed backend (`kind`: "sqlite", "etcd"). */
export function closedBackendError(kind: string): BackendError {
  return new BackendError('closed', `the ${kind} backend is closed`);
}

/** The error of a watch from a revision that compaction has removed. */
export function compactedRevisionError(from: number, compacted: number): BackendError {
  return new BackendError(
    'compacted',
    `revision ${from} is compacted: history starts after revision ${compacted}; re-read the current state and watch from its revision`,
  );
}

/**
 * Whether a watch from `fromRevision` must be refused — the backend is closed, or compaction
 * removed that revision. If so, `onError` hears why on the next microtask, as from a live watch.
 */
export function refuseWatch(kind: string, closed: boolean, fromRevision: number, compacted: number, onError: (e: Error) => void): boolean {
  const err = closed ? closedBackendError(kind) : fromRevision < compacted ? compactedRevisionError(fromRevision, compacted) : undefined;
  if (err) queueMicrotask(() => onError(err));
  return err !== undefined;
}

export const isBackendError = errorGuard(BackendError);
