import { randomBytes } from 'node:crypto';
import type { Etcd3, IRequestOp, ITxnResponse, IWatchResponse, Watcher } from 'etcd3';
import { systemClock, type Clock } from '../../lib/clock.ts';
import {
  BackendError,
  closedBackendError,
  compactedRevisionError,
  refuseWatch,
  isBackendError,
  type Backend,
  type BackendLimits,
  type Compare,
  type Fence,
  type KeyValue,
  type Op,
  type TxnOptions,
  type TxnResult,
  type WatchBatch,
  type WatchEvent,
  type WatchHandle,
} from '../backend.ts';
import { byEtcdRevision, deleteEvent, envelopeOf, toBatch } from './batches.ts';
import { connect, toBackendError, type EtcdConnection } from './connect.ts';
import { decodeCounter, encodeCounter, encodeEnvelope, Layout, prefixEnd } from './layout.ts';

/** Options of `EtcdBackend.open`. */
export interface EtcdBackendOptions extends EtcdConnection {
  /** Every key of the store lives under it. Default `/flotilla`. */
  readonly root?: string;
  /** etcd's `--max-txn-ops` (default 128 in etcd 3.4): one op is the revision counter's. */
  readonly maxTxnOps?: number;
  /** etcd's `--max-request-bytes` (default 1.5 MiB). */
  readonly maxRequestBytes?: number;
  /**
   * History kept: every `historyRevisions / 10` of its own commits, the backend compacts etcd
   * to `historyRevisions` behind (etcd-wide; 0: never, leave it to etcd's
   * `--auto-compaction-*`). Default 10,000, as the SQLite backend keeps.
   */
  readonly historyRevisions?: number;
  /** Timers (how long a txn waits for the watch to catch up). Default: the system clock. */
  readonly clock?: Clock;
}

interface KeyRevisions {
  readonly c: number;
  readonly m: number;
}

interface Sub {
  /** The next revision this subscriber is owed. */
  next: number;
  readonly onBatch: (b: WatchBatch) => void;
  readonly onError: (e: Error) => void;
  /** Catching up from etcd's history; live batches are not delivered meanwhile. */
  replaying: boolean;
  replay: Watcher | undefined;
  closed: boolean;
}

interface Waiter {
  readonly revision: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/** Bytes a txn request spends besides its keys and values (a generous guess, measured ~10). */
const PER_OP_OVERHEAD = 32;
const PER_TXN_OVERHEAD = 4_096;
/** Store revision → etcd revision pairs kept for `watch` and `compact` (older ones are searched). */
const REVISION_MAP_SIZE = 10_000;

/**
 * The store's backend on etcd. How the store's revisions map onto etcd's (see README): one
 * counter key holds the store revision; every commit is one etcd txn that compares the counter
 * with the revision the backend has applied and puts the next one, so the store's revisions are
 * dense and ordered whatever else writes to the etcd. Because a commit only succeeds when
 * nothing under the prefix changed since the applied revision, the store's compares are checked
 * against the in-memory key index (the `failed` compare is exact), and a lost race on the
 * counter waits for the watch to catch up and checks again. Values carry their store revisions
 * in an envelope. A txn must fit one etcd txn (`limits`), else it fails `too_large` with
 * nothing written.
 */
export class EtcdBackend implements Backend {
  readonly name = 'etcd';
  readonly limits: BackendLimits;
  readonly #client: Etcd3;
  readonly #layout: Layout;
  readonly #endpoints: readonly string[];
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #maxRequestBytes: number;
  readonly #history: number;
  /** Store key → its store revisions, as of `#rev`. */
  #index = new Map<string, KeyRevisions>();
  #rev = 0;
  /** The counter's value at `#rev` (what the next commit compares); undefined at revision 0. */
  #counterValue: Buffer | undefined;
  /** An etcd revision at which the counter read `#rev`. */
  #etcdRev = 0;
  readonly #etcdRevs = new Map<number, number>();
  #compacted = 0;
  #follower: Watcher | undefined;
  /** Set while the index is reloaded after the watch fell behind etcd's compaction. */
  #reloading: Promise<void> | undefined;
  readonly #subs = new Set<Sub>();
  #waiters: Waiter[] = [];
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Watcher cancellations in flight; `close` waits for them. */
  readonly #cancels = new Set<Promise<void>>();

  /** Connects, loads the key index and follows etcd from then on. */
  static async open(options: EtcdBackendOptions): Promise<EtcdBackend> {
    const b = new EtcdBackend(options);
    try {
      await b.#load();
    } catch (err) {
      await b.close();
      throw err;
    }
    return b;
  }

  private constructor(o: EtcdBackendOptions) {
    this.#layout = new Layout(o.root ?? '/flotilla');
    this.#endpoints = o.endpoints;
    this.#clock = o.clock ?? systemClock;
    this.#timeoutMs = o.requestTimeoutMs ?? 5_000;
    this.#maxRequestBytes = o.maxRequestBytes ?? 1.5 * 1024 * 1024;
    this.#history = o.historyRevisions ?? 10_000;
    const maxOps = (o.maxTxnOps ?? 128) - 1;
    this.limits = { maxOps, maxBytes: this.#maxRequestBytes - PER_TXN_OVERHEAD };
    this.#client = connect(o);
  }

  /** The root prefix in etcd. */
  get root(): string {
    return this.#layout.root;
  }

  /** The etcd client, for later parts sharing the connection (leader election). */
  get client(): Etcd3 {
    return this.#client;
  }

  async range(prefix: string): Promise<{ kvs: KeyValue[]; revision: number }> {
    this.#checkOpen();
    const snap = await this.#snapshot(prefix);
    return { kvs: snap.kvs, revision: snap.revision };
  }

  txn(compares: readonly Compare[], ops: readonly Op[], options?: TxnOptions): Promise<TxnResult> {
    if (this.#closed) return Promise.reject(closedBackendError('etcd'));
    const p = this.#chain.then(() => this.#commit(compares, ops, options?.fence));
    this.#chain = p.catch(() => undefined);
    return p;
  }

  watch(fromRevision: number, onBatch: (b: WatchBatch) => void, onError: (e: Error) => void): WatchHandle {
    const sub: Sub = { next: fromRevision + 1, onBatch, onError, replaying: false, replay: undefined, closed: false };
    const handle = { close: () => this.#closeSub(sub) };
    if (refuseWatch('etcd', this.#closed, fromRevision, this.#compacted, onError)) return handle;
    this.#subs.add(sub);
    if (fromRevision < this.#rev) {
      sub.replaying = true;
      void this.#startReplay(sub, fromRevision);
    }
    return handle;
  }

  async compact(revision: number): Promise<void> {
    this.#checkOpen();
    const etcdRevision = await this.#etcdRevisionOf(Math.min(revision, this.#rev));
    try {
      await this.#client.kv.compact({ revision: etcdRevision, physical: false });
    } catch (err) {
      if (!isCompactedMessage(err)) throw toBackendError(err, this.#endpoints);
    }
    if (revision > this.#compacted) {
      this.#compacted = revision;
      await this.#call(() => this.#client.kv.put({ key: Buffer.from(this.#layout.compactedKey), value: Buffer.from(String(revision)) }));
    }
  }

  async compactedRevision(): Promise<number> {
    this.#checkOpen();
    const res = await this.#call(() => this.#client.kv.range({ key: Buffer.from(this.#layout.compactedKey) }));
    this.#compacted = Math.max(this.#compacted, decodeCounter(res.kvs[0]?.value));
    return this.#compacted;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const follower = this.#follower;
    this.#follower = undefined;
    for (const sub of this.#subs) this.#closeSub(sub);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w.reject(closedBackendError('etcd'));
    if (follower) this.#cancel(follower);
    // The client's watch manager reconnects forever while a watcher is attached, even to a
    // closed client: let every cancel finish first (bounded: a dead etcd never confirms one).
    const timer = { cancel: () => undefined } as { cancel(): void };
    await Promise.race([
      Promise.all(this.#cancels),
      new Promise<void>((resolve) => {
        const t = this.#clock.setTimer(2_000, resolve);
        timer.cancel = () => t.cancel();
      }),
    ]);
    timer.cancel();
    // A cancel a dead etcd never confirmed leaves its watcher attached, and etcd3's watch manager
    // re-opens its stream (on a timer) for as long as one is attached, even after close(): that
    // kept processes alive. Detach what is left so the loop ends at its next turn.
    const watches = (this.#client as unknown as { watchManager?: { watchers: unknown[] } }).watchManager;
    if (watches && Array.isArray(watches.watchers)) watches.watchers = [];
    this.#client.close();
  }

  /** Stops following etcd, as a lost connection does (tests of catching up after compaction). */
  suspendFollowingForTest(): void {
    const w = this.#follower;
    this.#follower = undefined;
    if (w) this.#cancel(w);
  }

  /** Follows etcd again from where it stopped. */
  resumeFollowingForTest(): void {
    if (!this.#follower && !this.#closed) this.#follow(this.#etcdRev + 1);
  }

  // ---- loading and following ----

  async #load(): Promise<void> {
    const snap = await this.#snapshot('');
    this.#index = new Map(snap.kvs.map((kv) => [kv.key, { c: kv.createRevision, m: kv.modRevision }]));
    this.#rev = snap.revision;
    this.#counterValue = snap.counter;
    this.#etcdRev = snap.etcdRevision;
    this.#compacted = snap.compacted;
    this.#follow(snap.etcdRevision + 1);
  }

  /** Every data key under `prefix`, the counter and the compaction mark, at one etcd revision. */
  async #snapshot(
    prefix: string,
  ): Promise<{ kvs: KeyValue[]; revision: number; counter: Buffer | undefined; compacted: number; etcdRevision: number }> {
    const key = this.#layout.dataKey(prefix);
    const res = await this.#call(() =>
      this.#client.kv.txn({
        success: [
          { request_range: { key, range_end: prefixEnd(key) } },
          { request_range: { key: Buffer.from(this.#layout.counterKey) } },
          { request_range: { key: Buffer.from(this.#layout.compactedKey) } },
        ],
      }),
    );
    const [data, counter, compacted] = res.responses.map((r) => r.response_range.kvs);
    const kvs = (data ?? []).map((kv): KeyValue => {
      const env = envelopeOf(kv);
      return { key: this.#layout.storeKey(kv.key)!, value: env.value, createRevision: env.createRevision, modRevision: env.modRevision };
    });
    const revision = decodeCounter(counter?.[0]?.value);
    const etcdRevision = Number(res.header.revision);
    this.#remember(revision, etcdRevision);
    return { kvs, revision, counter: counter?.[0]?.value, compacted: decodeCounter(compacted?.[0]?.value), etcdRevision };
  }

  /** Follows every change under the root from `etcdRevision` on, keeping the index current. */
  #follow(etcdRevision: number): void {
    const w = this.#client
      .watch()
      .prefix(`${this.#layout.root}/`)
      .startRevision(String(etcdRevision))
      .withPreviousKV()
      .watcher();
    w.on('data', (res) => this.#onFollowed(res));
    w.on('error', () => {
      if (this.#closed || this.#follower !== w) return;
      this.#follower = undefined;
      // Fell behind etcd's compaction (or was cancelled): reload the index and go on.
      this.#reloading ??= this.#reload().finally(() => (this.#reloading = undefined));
    });
    this.#follower = w;
  }

  #onFollowed(res: IWatchResponse): void {
    if (this.#closed) return;
    for (const group of byEtcdRevision(res.events)) {
      let commit: ReturnType<typeof toBatch>;
      try {
        commit = toBatch(this.#layout, group.events);
      } catch (err) {
        this.#failAll(err as Error);
        return;
      }
      for (const ev of group.events) {
        if (ev.kv.key.toString() === this.#layout.compactedKey && ev.type === 'Put') {
          this.#compacted = Math.max(this.#compacted, decodeCounter(ev.kv.value));
        }
      }
      if (commit) this.#apply(commit.batch, group.etcdRevision, commit.counter);
    }
  }

  /**
   * Reloads the index after the watch lost its place (compacted history), delivers the
   * difference to live subscribers as one batch at the current revision, and follows again.
   * Deletes found this way carry no previous value (it is gone with the history).
   */
  async #reload(): Promise<void> {
    for (;;) {
      if (this.#closed) return;
      try {
        const snap = await this.#snapshot('');
        const events: WatchEvent[] = [];
        const seen = new Set<string>();
        for (const kv of snap.kvs) {
          seen.add(kv.key);
          const old = this.#index.get(kv.key);
          if (old && old.m === kv.modRevision) continue;
          events.push({
            type: 'put',
            key: kv.key,
            value: kv.value,
            createRevision: kv.createRevision,
            modRevision: kv.modRevision,
            ...(old ? { prevModRevision: old.m } : {}),
          });
        }
        for (const [key, old] of this.#index) {
          if (!seen.has(key)) events.push({ ...deleteEvent(key, snap.revision, undefined), createRevision: old.c, prevModRevision: old.m });
        }
        this.#compacted = Math.max(this.#compacted, snap.compacted);
        if (snap.revision > this.#rev) this.#apply({ revision: snap.revision, events }, snap.etcdRevision, snap.counter, true);
        this.#follow(snap.etcdRevision + 1);
        return;
      } catch {
        // etcd not answering: try again shortly (the watch is what every commit waits on).
        if (this.#closed) return;
        await this.#clock.sleep(Math.min(this.#timeoutMs, 1_000));
      }
    }
  }

  /** Applies one store commit to the index and tells live subscribers and waiters. */
  #apply(batch: WatchBatch, etcdRevision: number, counter: Buffer | undefined, reloaded = false): void {
    this.#remember(batch.revision, etcdRevision);
    if (batch.revision <= this.#rev) return; // already applied (our own commit, seen again)
    if (batch.revision !== this.#rev + 1 && !reloaded) {
      // A hole means the prefix was rewritten behind our back: start over from etcd.
      if (this.#follower) this.#cancel(this.#follower);
      this.#follower = undefined;
      this.#reloading ??= this.#reload().finally(() => (this.#reloading = undefined));
      return;
    }
    for (const ev of batch.events) {
      if (ev.type === 'put') this.#index.set(ev.key, { c: ev.createRevision, m: ev.modRevision });
      else this.#index.delete(ev.key);
    }
    this.#rev = batch.revision;
    this.#counterValue = counter;
    this.#etcdRev = etcdRevision;
    for (const sub of this.#subs) {
      if (sub.replaying || sub.closed || batch.revision < sub.next) continue;
      sub.next = batch.revision + 1;
      safeCall(sub, batch);
    }
    if (this.#waiters.length > 0) {
      const still: Waiter[] = [];
      for (const w of this.#waiters) {
        if (w.revision <= this.#rev) w.resolve();
        else still.push(w);
      }
      this.#waiters = still;
    }
  }

  #remember(revision: number, etcdRevision: number): void {
    if (this.#etcdRevs.has(revision)) return;
    this.#etcdRevs.set(revision, etcdRevision);
    if (this.#etcdRevs.size > REVISION_MAP_SIZE) {
      const oldest = this.#etcdRevs.keys().next().value;
      if (oldest !== undefined) this.#etcdRevs.delete(oldest);
    }
  }

  /** Resolves once the index has applied `revision`; fails `unavailable` after the request timeout. */
  #applied(revision: number): Promise<void> {
    if (this.#rev >= revision) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimer(this.#timeoutMs, () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new BackendError('unavailable', `store unavailable: the watch of etcd at ${this.#endpoints.join(',')} is behind revision ${revision}`));
      });
      const waiter: Waiter = {
        revision,
        resolve: () => {
          timer.cancel();
          resolve();
        },
        reject: (e) => {
          timer.cancel();
          reject(e);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  // ---- commits ----

  async #commit(compares: readonly Compare[], ops: readonly Op[], fence: Fence | undefined): Promise<TxnResult> {
    for (;;) {
      this.#checkOpen();
      if (this.#reloading) await this.#reloading;
      const failed = compares.find((c) => (this.#index.get(c.key)?.m ?? 0) !== c.modRevision);
      if (failed) {
        // The index may be behind another writer's commit the caller already knows of.
        const checkedAt = this.#rev;
        const current = await this.#counter();
        if (current > checkedAt) {
          await this.#applied(current);
          continue;
        }
        return { succeeded: false, revision: this.#rev, failed };
      }
      const last = new Map<string, Op>();
      for (const op of ops) last.set(op.key, op);
      const effective = [...last.values()].filter((op) => op.type === 'put' || this.#index.has(op.key));
      if (effective.length === 0) return { succeeded: true, revision: this.#rev };
      const base = this.#rev;
      const next = base + 1;
      const success = this.#requestOps(effective, next);
      const counterKey = Buffer.from(this.#layout.counterKey);
      const ours = encodeCounter(next, randomBytes(6).toString('hex'));
      success.push({ request_put: { key: counterKey, value: ours } });
      const baseValue = this.#counterValue;
      const res = await this.#send(
        {
          compare: [
            baseValue === undefined
              ? { key: counterKey, target: 'Version', result: 'Equal', version: 0 }
              : { key: counterKey, target: 'Value', result: 'Equal', value: baseValue },
            // The leader's term (see backend.ts `Fence`): its key still there, not re-created.
            ...(fence ? [{ key: Buffer.from(fence.key), target: 'Create' as const, result: 'Equal' as const, create_revision: fence.createRevision }] : []),
          ],
          success,
          failure: [{ request_range: { key: counterKey } }, ...(fence ? [{ request_range: { key: Buffer.from(fence.key) } }] : [])],
        },
        baseValue,
        ours,
      );
      if (res === 'committed') {
        await this.#applied(next);
        return { succeeded: true, revision: next };
      }
      if (res.succeeded) {
        const batch = this.#ownBatch(effective, res.responses.map((r) => r.response_delete_range), next);
        if (this.#rev === base) this.#apply(batch, Number(res.header.revision), ours);
        this.#maybeCompact(next);
        return { succeeded: true, revision: next };
      }
      if (fence && Number(res.responses[1]?.response_range.kvs[0]?.create_revision ?? 0) !== fence.createRevision) {
        throw new BackendError('fenced', `not written: the term of leadership this write was fenced on (${fence.key} created at etcd revision ${fence.createRevision}) has ended`);
      }
      // Another writer committed first: wait for the watch to bring its changes, check again.
      const current = decodeCounter(res.responses[0]?.response_range.kvs[0]?.value);
      if (current <= base) {
        // Not another commit (that would have moved it on): the counter was rewritten.
        throw new BackendError('internal', `the store revision counter in etcd was rewritten (${base} expected, ${current} found): was ${this.#layout.root} changed by hand?`);
      }
      await this.#applied(current);
    }
  }

  /** Compacts `historyRevisions` behind `revision` now and then; a failure waits for the next turn. */
  #maybeCompact(revision: number): void {
    if (this.#history <= 0 || revision <= this.#history) return;
    if (revision % Math.max(1, Math.floor(this.#history / 10)) !== 0) return;
    const to = revision - this.#history;
    if (to <= this.#compacted) return;
    this.compact(to).catch(() => undefined);
  }

  /**
   * Sends a commit. When a member does not answer, the outcome is unknown: the counter (read
   * through whichever member answers) tells — ours: committed; unchanged: not committed, so
   * send again (the client picks a member again, and skips one whose circuit is open);
   * anything else: report `unavailable` and let the watch tell.
   */
  async #send(req: Parameters<Etcd3['kv']['txn']>[0], baseValue: Buffer | undefined, ours: Buffer): Promise<ITxnResponse | 'committed'> {
    // Enough tries to get past a dead member picked at random until its circuit opens (3 failures).
    const maxTries = this.#endpoints.length === 1 ? 2 : 3 * this.#endpoints.length + 1;
    let tries = 0;
    const unavailable = (e: unknown): boolean => isBackendError(e) && e.code === 'unavailable' && ++tries < maxTries;
    for (;;) {
      let lost: unknown;
      try {
        return await this.#call(() => this.#client.kv.txn(req));
      } catch (err) {
        if (!unavailable(err)) throw err;
        lost = err;
      }
      let now: Buffer | undefined;
      for (;;) {
        try {
          now = (await this.#call(() => this.#client.kv.range({ key: Buffer.from(this.#layout.counterKey) }))).kvs[0]?.value;
          break;
        } catch (err) {
          if (!unavailable(err)) throw lost;
        }
      }
      if (now?.equals(ours)) return 'committed';
      const unchanged = baseValue === undefined ? now === undefined : now?.equals(baseValue) === true;
      if (!unchanged) throw lost;
    }
  }

  /** The store revision in etcd now. */
  async #counter(): Promise<number> {
    const res = await this.#call(() => this.#client.kv.range({ key: Buffer.from(this.#layout.counterKey) }));
    return decodeCounter(res.kvs[0]?.value);
  }

  /** etcd ops for `ops` committed at store revision `revision`, checked against the limits. */
  #requestOps(ops: readonly Op[], revision: number): IRequestOp[] {
    const out: IRequestOp[] = [];
    let bytes = 0;
    for (const op of ops) {
      const key = this.#layout.dataKey(op.key);
      if (op.type === 'delete') {
        out.push({ request_delete_range: { key, prev_kv: true } });
        bytes += key.length + PER_OP_OVERHEAD;
        continue;
      }
      const value = encodeEnvelope(this.#index.get(op.key)?.c ?? revision, revision, op.value);
      out.push({ request_put: { key, value } });
      bytes += key.length + value.length + PER_OP_OVERHEAD;
    }
    if (out.length > this.limits.maxOps || bytes > this.limits.maxBytes) {
      throw new BackendError(
        'too_large',
        `a transaction of ${out.length} writes (${bytes} bytes) is more than etcd commits at once ` +
          `(${this.limits.maxOps} writes, ${this.limits.maxBytes} bytes: etcd's --max-txn-ops and --max-request-bytes); nothing was written`,
      );
    }
    return out;
  }

  /** The watch batch of our own commit, from what we wrote and the deleted values etcd returned. */
  #ownBatch(ops: readonly Op[], deletes: ReadonlyArray<{ prev_kvs: Array<{ value: Buffer; key: Buffer }> } | undefined>, revision: number): WatchBatch {
    const events = ops.map((op, i): WatchEvent => {
      const old = this.#index.get(op.key);
      if (op.type === 'put') {
        return {
          type: 'put',
          key: op.key,
          value: op.value,
          createRevision: old?.c ?? revision,
          modRevision: revision,
          ...(old ? { prevModRevision: old.m } : {}),
        };
      }
      const prev = deletes[i]?.prev_kvs[0];
      return deleteEvent(op.key, revision, prev ? envelopeOf(prev as Parameters<typeof envelopeOf>[0]) : undefined);
    });
    return { revision, events };
  }

  // ---- history ----

  async #startReplay(sub: Sub, fromRevision: number): Promise<void> {
    let etcdRevision: number;
    try {
      etcdRevision = await this.#etcdRevisionOf(fromRevision);
    } catch (err) {
      this.#failSub(sub, err as Error);
      return;
    }
    if (sub.closed) return;
    const w = this.#client
      .watch()
      .prefix(`${this.#layout.root}/`)
      .startRevision(String(etcdRevision + 1))
      .withPreviousKV()
      .watcher();
    sub.replay = w;
    w.on('data', (res) => {
      if (sub.closed || sub.replay !== w) return;
      for (const group of byEtcdRevision(res.events)) {
        let batch: WatchBatch | undefined;
        try {
          batch = toBatch(this.#layout, group.events)?.batch;
        } catch (err) {
          this.#failSub(sub, err as Error);
          return;
        }
        if (!batch || batch.revision < sub.next) continue;
        sub.next = batch.revision + 1;
        safeCall(sub, batch);
        if (sub.closed) return;
      }
      if (sub.next > this.#rev) {
        // Caught up with the follower: live batches from here on.
        sub.replaying = false;
        sub.replay = undefined;
        this.#cancel(w);
      }
    });
    w.on('error', (err) => {
      if (sub.closed || sub.replay !== w) return;
      this.#failSub(sub, isCompactedMessage(err) ? compactedRevisionError(fromRevision, this.#compacted) : toBackendError(err, this.#endpoints));
    });
  }

  /**
   * An etcd revision at which the counter read `revision`. Recent ones are remembered; older
   * ones are found by reading the counter at a past etcd revision: its modRevision there says
   * when it took that value, and every store revision took at least one etcd revision, so each
   * step lands at or above the answer and usually on it.
   */
  async #etcdRevisionOf(revision: number): Promise<number> {
    if (revision === this.#rev) return this.#etcdRev;
    const known = this.#etcdRevs.get(revision);
    if (known !== undefined) return known;
    let at = this.#etcdRev;
    for (;;) {
      let res;
      try {
        res = await this.#client.kv.range({ key: Buffer.from(this.#layout.counterKey), revision: at });
      } catch (err) {
        if (isCompactedMessage(err)) throw compactedRevisionError(revision, this.#compacted);
        throw toBackendError(err, this.#endpoints);
      }
      const kv = res.kvs[0];
      const value = decodeCounter(kv?.value);
      if (value === revision) return at;
      if (kv === undefined || value < revision) {
        throw new BackendError('internal', `store revision ${revision} is not in etcd's history (the counter read ${value} at etcd revision ${at})`);
      }
      at = Number(kv.mod_revision) - (value - revision);
      if (at < 1) return 0; // before etcd's first revision: nothing was committed yet
    }
  }

  // ---- plumbing ----

  /** Cancels an etcd watcher, tracked so that `close` can wait for it. */
  #cancel(w: Watcher): void {
    const p: Promise<void> = w
      .cancel()
      .catch(() => undefined)
      .finally(() => this.#cancels.delete(p));
    this.#cancels.add(p);
  }

  #closeSub(sub: Sub): void {
    if (sub.closed) return;
    sub.closed = true;
    this.#subs.delete(sub);
    if (sub.replay) this.#cancel(sub.replay);
    sub.replay = undefined;
  }

  #failSub(sub: Sub, err: Error): void {
    if (sub.closed) return;
    this.#closeSub(sub);
    try {
      sub.onError(err);
    } catch {
      // its own bug; nothing more to do
    }
  }

  #failAll(err: Error): void {
    for (const sub of this.#subs) this.#failSub(sub, err);
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    this.#checkOpen();
    try {
      return await fn();
    } catch (err) {
      if (this.#closed) throw closedBackendError('etcd');
      throw toBackendError(err, this.#endpoints);
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw closedBackendError('etcd');
  }
}

function safeCall(sub: Sub, batch: WatchBatch): void {
  try {
    sub.onBatch(batch);
  } catch (err) {
    // A throwing subscriber is its own bug; it must not stop delivery to the others.
    try {
      sub.onError(new BackendError('internal', `watch callback threw: ${String(err)}`, { cause: err }));
    } catch {
      // nothing more to do
    }
  }
}

/** etcd reports compaction only in the message ("mvcc: required revision has been compacted"). */
function isCompactedMessage(err: unknown): boolean {
  return err instanceof Error && /required revision has been compacted/.test(err.message);
}


