import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import {
  BackendError,
  closedBackendError,
  compactedRevisionError,
  refuseWatch,
  type Backend,
  type Compare,
  type KeyValue,
  type Op,
  type TxnResult,
  type WatchBatch,
  type WatchEvent,
  type WatchHandle,
} from '../backend.ts';
import { loadSqlite } from './load-sqlite.ts';
import { RowWriter } from './row-writer.ts';
import { initSchema } from './schema.ts';

/** Options of `SqliteBackend.open`. */
export interface SqliteBackendOptions {
  /**
   * How many revisions of history to keep for watches that start in the past; older history
   * is compacted automatically (checked every 1,000 revisions). 0 keeps everything.
   * Default 10,000.
   */
  historyRevisions?: number;
}

interface Required_ {
  historyRevisions: number;
}

function compile(o: SqliteBackendOptions): Required_ {
  const historyRevisions = o.historyRevisions ?? 10_000;
  if (!Number.isInteger(historyRevisions) || historyRevisions < 0) {
    throw new RangeError(`historyRevisions must be a non-negative integer, got ${historyRevisions}`);
  }
  return { historyRevisions };
}

interface Pending {
  readonly compares: readonly Compare[];
  readonly ops: readonly Op[];
  readonly resolve: (r: TxnResult) => void;
  readonly reject: (e: Error) => void;
}

/** Changed in place by a commit (a failed commit reloads the index from the file). */
interface Current {
  readonly createRev: number;
  modRev: number;
  /** The log row holding the current value. */
  logId: number;
  /** The key's row in `kv`. */
  readonly slot: number;
}

interface Watcher {
  /** Revisions at or below this one were delivered (or not wanted). */
  after: number;
  live: boolean;
  closed: boolean;
  readonly onBatch: (b: WatchBatch) => void;
  readonly onError: (e: Error) => void;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const REPLAY_PAGE = 2_000;
const COMPACT_EVERY = 1_000;
/** A range of at least this many keys reads every live value in one scan. */
const SCAN_FROM = 256;

/**
 * The embedded backend, on Node's built-in `node:sqlite` (no native addon). One writer: this
 * process holds the file exclusively. WAL journal, `synchronous=NORMAL`.
 *
 * Group commit: every `txn()` made before the event loop turns is committed in one SQLite
 * transaction; each still gets its own revision and its compares see the txns before it in
 * the group. Watchers get each committed txn, in order, synchronously after the commit and
 * before the txn promises resolve.
 */
export class SqliteBackend implements Backend {
  readonly name = 'sqlite';
  readonly #db: DatabaseSync;
  readonly #options: Required_;
  readonly #st: ReturnType<typeof prepare>;
  readonly #rows: RowWriter;
  /** The highest log row id and kv slot used: new rows take the next ones. */
  #lastLogId: number;
  #lastSlot: number;
  #revision: number;
  #compacted: number;
  #lastAutoCompact: number;
  #queue: Pending[] = [];
  #flushScheduled = false;
  #closed = false;
  readonly #watchers = new Set<Watcher>();
  /**
   * The revisions of every key and where its value is (no values), as etcd keeps its tree
   * index: compares and puts need no read from SQLite. About 150 bytes a key.
   */
  readonly #index = new Map<string, Current>();

  /** Opens (creating if needed) the database at `path`, or a private one for `:memory:`. */
  static open(path: string, options: SqliteBackendOptions = {}): SqliteBackend {
    const opts = compile(options);
    if (path !== ':memory:' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
    const { DatabaseSync } = loadSqlite();
    const db = new DatabaseSync(path);
    try {
      // 16 KiB pages: ~1.5x cheaper writes of ~1 KiB JSON rows than the 4 KiB default
      // (measured; bench/store.ts). Only takes effect when the file is created.
      db.exec('PRAGMA page_size = 16384');
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA locking_mode = EXCLUSIVE');
      db.exec('PRAGMA cache_size = -16384');
      initSchema(db);
      return new SqliteBackend(db, opts);
    } catch (err) {
      db.close();
      throw new BackendError('unavailable', `cannot open sqlite store at ${path}: ${String(err)}`, { cause: err });
    }
  }

  constructor(db: DatabaseSync, options: Required_) {
    this.#db = db;
    this.#options = options;
    this.#st = prepare(db);
    this.#rows = new RowWriter(db);
    this.#lastLogId = 0;
    this.#lastSlot = 0;
    this.#loadIndex();
    const meta = this.#st.getMeta.get() as { revision: number; compacted: number };
    this.#revision = meta.revision;
    this.#compacted = meta.compacted;
    this.#lastAutoCompact = meta.revision;
  }

  /** Reads the revision index and the last ids from the file. */
  #loadIndex(): void {
    this.#index.clear();
    type Row = { slot: number; log_id: number; key: string; create_rev: number; rev: number };
    for (const r of this.#st.allKeys.iterate() as Iterable<Row>) {
      this.#index.set(r.key, { createRev: r.create_rev, modRev: r.rev, logId: r.log_id, slot: r.slot });
    }
    this.#lastLogId = (this.#st.maxLogId.get() as { id: number }).id;
    this.#lastSlot = (this.#st.maxSlot.get() as { id: number }).id;
  }

  /** The last committed revision. */
  get revision(): number {
    return this.#revision;
  }

  range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    if (this.#closed) return Promise.reject(closedBackendError('sqlite'));
    const keys: string[] = [];
    for (const key of this.#index.keys()) if (key.startsWith(prefix)) keys.push(key);
    keys.sort();
    const kvs: KeyValue[] = [];
    // Many keys (loading the store): one scan of every live value beats a lookup per key.
    let values: Map<number, string> | undefined;
    if (keys.length >= SCAN_FROM) {
      values = new Map();
      for (const r of this.#st.liveValues.iterate() as Iterable<{ id: number; value: string }>) values.set(r.id, r.value);
    }
    const valueAt = this.#st.valueAt;
    for (const key of keys) {
      const cur = this.#index.get(key)!;
      const value = values ? values.get(cur.logId)! : (valueAt.get(cur.logId) as { value: string }).value;
      kvs.push({ key, value, createRevision: cur.createRev, modRevision: cur.modRev });
    }
    return Promise.resolve({ kvs, revision: this.#revision });
  }

  txn(compares: readonly Compare[], ops: readonly Op[]): Promise<TxnResult> {
    if (this.#closed) return Promise.reject(closedBackendError('sqlite'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ compares, ops, resolve, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  watch(fromRevision: number, onBatch: (b: WatchBatch) => void, onError: (e: Error) => void): WatchHandle {
    const w: Watcher = { after: fromRevision, live: false, closed: false, onBatch, onError };
    const handle: WatchHandle = {
      close: () => {
        w.closed = true;
        this.#watchers.delete(w);
      },
    };
    if (refuseWatch('sqlite', this.#closed, fromRevision, this.#compacted, onError)) return handle;
    this.#watchers.add(w);
    if (fromRevision >= this.#revision) w.live = true;
    else setImmediate(() => this.#replay(w));
    return handle;
  }

  compact(revision: number): Promise<void> {
    if (this.#closed) return Promise.reject(closedBackendError('sqlite'));
    this.#compactTo(Math.min(revision, this.#revision));
    return Promise.resolve();
  }

  compactedRevision(): Promise<number> {
    if (this.#closed) return Promise.reject(closedBackendError('sqlite'));
    return Promise.resolve(this.#compacted);
  }

  /** Commits what is queued, stops the watchers and closes the file. Idempotent. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#flush();
    this.#closed = true;
    for (const w of this.#watchers) w.closed = true;
    this.#watchers.clear();
    this.#db.close();
    return Promise.resolve();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const queue = this.#queue;
    if (queue.length === 0) return;
    this.#queue = [];
    const st = this.#st;
    const rows = this.#rows;
    const index = this.#index;
    let logId = this.#lastLogId;
    let lastSlot = this.#lastSlot;
    // The index is changed as we go (compares of later txns in the group see earlier ones);
    // if the commit fails it is read back from the file.
    const results: TxnResult[] = [];
    const batches: WatchBatch[] = [];
    let rev = this.#revision;
    try {
      st.begin.run();
      for (const p of queue) {
        let failed: Compare | undefined;
        for (const c of p.compares) {
          if ((index.get(c.key)?.modRev ?? 0) !== c.modRevision) {
            failed = c;
            break;
          }
        }
        if (failed) {
          results.push({ succeeded: false, revision: rev, failed });
          continue;
        }
        const next = rev + 1;
        const events: WatchEvent[] = [];
        const firstLogId = logId + 1;
        for (const op of p.ops) {
          const key = op.key;
          const cur = index.get(key);
          if (op.type === 'put') {
            // The value is written once: its log row is also where the current value lives.
            logId++;
            if (cur) {
              rows.log(logId, next, key, op.value, null, cur.createRev, cur.modRev);
              rows.point(cur.slot, logId);
              events.push({ type: 'put', key, value: op.value, createRevision: cur.createRev, modRevision: next, prevModRevision: cur.modRev });
              cur.modRev = next;
              cur.logId = logId;
            } else {
              const slot = ++lastSlot;
              rows.log(logId, next, key, op.value, null, next, null);
              rows.point(slot, logId);
              events.push({ type: 'put', key, value: op.value, createRevision: next, modRevision: next });
              index.set(key, { createRev: next, modRev: next, logId, slot });
            }
          } else {
            if (!cur) continue;
            rows.write(); // the value may be in a row not written yet
            const prev = (st.valueAt.get(cur.logId) as { value: string }).value;
            st.deleteKv.run(cur.slot);
            logId++;
            rows.log(logId, next, key, null, prev, cur.createRev, cur.modRev);
            events.push({
              type: 'delete',
              key,
              prevValue: prev,
              createRevision: cur.createRev,
              modRevision: next,
              prevModRevision: cur.modRev,
            });
            index.delete(key);
          }
        }
        if (events.length === 0) {
          results.push({ succeeded: true, revision: rev });
          continue;
        }
        st.insertRev.run(next, firstLogId);
        rev = next;
        results.push({ succeeded: true, revision: rev });
        batches.push({ revision: rev, events });
      }
      rows.write();
      if (rev !== this.#revision) st.setRevision.run(rev);
      st.commit.run();
    } catch (err) {
      rows.discard();
      try {
        st.rollback.run();
      } catch {
        // the failed statement may already have ended the transaction
      }
      const e = new BackendError('internal', `sqlite commit failed: ${String(err)}`, { cause: err });
      try {
        this.#loadIndex();
      } catch {
        // the file is unreadable: later commits fail too
      }
      for (const p of queue) p.reject(e);
      return;
    }
    this.#revision = rev;
    this.#lastLogId = logId;
    this.#lastSlot = lastSlot;
    for (const b of batches) this.#deliver(b);
    for (let i = 0; i < queue.length; i++) queue[i]!.resolve(results[i]!);
    const keep = this.#options.historyRevisions;
    if (keep > 0 && rev - this.#lastAutoCompact >= COMPACT_EVERY) {
      this.#lastAutoCompact = rev;
      if (rev - keep > this.#compacted) this.#compactTo(rev - keep);
    }
  }

  #deliver(batch: WatchBatch): void {
    for (const w of this.#watchers) {
      if (!w.live || w.closed || batch.revision <= w.after) continue;
      w.after = batch.revision;
      safeCall(w, batch);
    }
  }

  /** Brings a watcher that starts in the past up to now from the log, then makes it live. */
  #replay(w: Watcher): void {
    if (w.closed || this.#closed) return;
    if (w.after < this.#compacted) {
      this.#watchers.delete(w);
      w.onError(compactedRevisionError(w.after, this.#compacted));
      return;
    }
    const upTo = this.#revision;
    const first = this.#st.firstLogAfter.get(w.after) as { first_id: number } | undefined;
    let nextId = first?.first_id ?? Number.MAX_SAFE_INTEGER;
    let pending: { revision: number; events: WatchEvent[] } | undefined;
    for (;;) {
      const rows = this.#st.logPage.all(nextId, upTo, REPLAY_PAGE) as unknown as LogRow[];
      for (const r of rows) {
        if (pending && pending.revision !== r.rev) {
          w.after = pending.revision;
          safeCall(w, pending);
          if (w.closed) return;
          pending = undefined;
        }
        pending ??= { revision: r.rev, events: [] };
        pending.events.push(logEvent(r));
      }
      if (rows.length < REPLAY_PAGE) break;
      nextId = rows[rows.length - 1]!.id + 1;
    }
    if (pending) {
      w.after = pending.revision;
      safeCall(w, pending);
      if (w.closed) return;
    }
    w.after = upTo;
    w.live = true;
  }

  #compactTo(revision: number): void {
    if (revision <= this.#compacted) return;
    const st = this.#st;
    const first = st.firstLogAfter.get(revision) as { first_id: number } | undefined;
    st.begin.run();
    try {
      if (first) st.deleteLogBefore.run(first.first_id);
      else st.deleteAllLog.run();
      st.deleteRevsUpTo.run(revision);
      st.setCompacted.run(revision);
      st.commit.run();
    } catch (err) {
      st.rollback.run();
      throw new BackendError('internal', `sqlite compaction failed: ${String(err)}`, { cause: err });
    }
    this.#compacted = revision;
    for (const w of this.#watchers) {
      if (!w.live && w.after < revision) {
        this.#watchers.delete(w);
        w.closed = true;
        queueMicrotask(() => w.onError(compactedRevisionError(w.after, revision)));
      }
    }
  }
}

interface LogRow {
  id: number;
  rev: number;
  key: string;
  value: string | null;
  prev_value: string | null;
  create_rev: number;
  prev_mod_rev: number | null;
}

function logEvent(r: LogRow): WatchEvent {
  const ev: Mutable<WatchEvent> =
    r.value === null
      ? { type: 'delete', key: r.key, createRevision: r.create_rev, modRevision: r.rev }
      : { type: 'put', key: r.key, value: r.value, createRevision: r.create_rev, modRevision: r.rev };
  if (r.prev_value !== null) ev.prevValue = r.prev_value;
  if (r.prev_mod_rev !== null) ev.prevModRevision = r.prev_mod_rev;
  return ev;
}

function safeCall(w: Watcher, batch: WatchBatch): void {
  try {
    w.onBatch(batch);
  } catch (err) {
    // A throwing subscriber is its own bug; it must not stop delivery to the others.
    try {
      w.onError(new BackendError('internal', `watch callback threw: ${String(err)}`, { cause: err }));
    } catch {
      // nothing more to do
    }
  }
}



function prepare(db: DatabaseSync): { [K in StatementName]: StatementSync } {
  const s = (sql: string): StatementSync => db.prepare(sql);
  return {
    begin: s('BEGIN IMMEDIATE'),
    commit: s('COMMIT'),
    rollback: s('ROLLBACK'),
    getMeta: s('SELECT revision, compacted FROM meta WHERE id = 1'),
    setRevision: s('UPDATE meta SET revision = ? WHERE id = 1'),
    setCompacted: s('UPDATE meta SET compacted = ? WHERE id = 1'),
    allKeys: s('SELECT kv.id AS slot, kv.log_id, log.key, log.create_rev, log.rev FROM kv JOIN log ON log.id = kv.log_id'),
    valueAt: s('SELECT value FROM log WHERE id = ?'),
    liveValues: s('SELECT log.id, log.value FROM kv JOIN log ON log.id = kv.log_id'),
    maxLogId: s('SELECT max(0, coalesce(max(id), 0)) AS id FROM log'),
    maxSlot: s('SELECT coalesce(max(id), 0) AS id FROM kv'),
    deleteKv: s('DELETE FROM kv WHERE id = ?'),
    insertRev: s('INSERT INTO revs (rev, first_id) VALUES (?, ?)'),
    firstLogAfter: s('SELECT first_id FROM revs WHERE rev > ? ORDER BY rev LIMIT 1'),
    logPage: s(
      'SELECT id, rev, key, value, prev_value, create_rev, prev_mod_rev FROM log WHERE id >= ? AND rev <= ? ORDER BY id LIMIT ?',
    ),
    // Live rows (the current values) stay; NOT IN reads kv once into a temporary index.
    deleteLogBefore: s('DELETE FROM log WHERE id < ? AND id NOT IN (SELECT log_id FROM kv)'),
    deleteAllLog: s('DELETE FROM log WHERE id NOT IN (SELECT log_id FROM kv)'),
    deleteRevsUpTo: s('DELETE FROM revs WHERE rev <= ?'),
  };
}

type StatementName =
  | 'begin'
  | 'commit'
  | 'rollback'
  | 'getMeta'
  | 'setRevision'
  | 'setCompacted'
  | 'allKeys'
  | 'valueAt'
  | 'liveValues'
  | 'maxLogId'
  | 'maxSlot'
  | 'deleteKv'
  | 'insertRev'
  | 'firstLogAfter'
  | 'logPage'
  | 'deleteLogBefore'
  | 'deleteAllLog'
  | 'deleteRevsUpTo';
