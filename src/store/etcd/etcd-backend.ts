import { randomBytes } from 'node:crypto';
import type { Etcd3, ICompare, IRequestOp, ITxnResponse, IWatchResponse, Watcher } from 'etcd3';
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
  type WatchHandle,
} from '../backend.ts';
import { byEtcdRevision, oneTxnOps, ownBatch, safeCall, toBatch } from './batches.ts';
import { connect, isCompactedMessage, retryUnavailable, toBackendError, triesFor } from './connect.ts';
import { commitToken, decodeCounter, encodeCounter, isWriterId, Layout } from './layout.ts';
import { findEtcdRevision, payloadAt } from './history.ts';
import type { EtcdBackendOptions } from './options.ts';
import { differences, readSnapshot, type Snapshot } from './snapshot.ts';
import { decodeRecord, encodeRecord, payloadEvents, StagedChunks, stagedEntries, type CommitRecord, type StagedEntry } from './staged.ts';
import { StagedWriter } from './staged-writer.ts';
import { WatchCancels } from './watch-teardown.ts';

export type { EtcdBackendOptions } from './options.ts';

interface KeyRevisions {
  readonly c: number;
  readonly m: number;
  /** Parts of a split value (absent: inline). */
  readonly n?: number;
}

/** A staged commit the data keys do not hold yet (see `staged.ts`). */
interface Pending {
  readonly record: CommitRecord;
  readonly entries: readonly StagedEntry[];
  /** The counter's value it committed with. */
  readonly counter: Buffer;
}

interface Sub {
  /** The next revision this subscriber is owed. */
  next: number;
  readonly onBatch: (b: WatchBatch) => void;
  readonly onError: (e: Error) => void;
  /** Catching up from etcd's history; live batches are not delivered meanwhile. */
  replaying: boolean;
  replay: Watcher | undefined;
  /** Replayed responses in order (a staged commit's payload is read from etcd's history). */
  queue: Promise<void>;
  closed: boolean;
}

interface Waiter {
  readonly revision: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
}

/** Bytes a txn request spends besides its keys and values. */
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
 * in an envelope. A txn that fits one etcd txn (`limits`) is one etcd txn; a larger one (up to
 * `maxTxnBytes`) is staged and committed by one small txn (`staged.ts`).
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
  readonly #maxTxnBytes: number;
  /** Values larger than this are split into parts in the data keys. */
  readonly #partBytes: number;
  readonly #writer: StagedWriter;
  readonly #stepHook: EtcdBackendOptions['stagedStepForTest'];
  /** Named in every commit's token (`commitToken`). */
  readonly #writerId: string | undefined;
  /** Staged chunks seen (snapshot, then watch): where a followed commit record's payload is. */
  #staged = new StagedChunks();
  /** The committed staged commit the data keys do not hold yet; every writer finishes it first. */
  #pending: Pending | undefined;
  /** Our own roll-forward, going on after its commit resolved; the next commit waits for it. */
  #rolling: Promise<void> | undefined;
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
  readonly #cancels = new WatchCancels();

  /** Connects, loads the key index and follows etcd from then on. */
  static async open(options: EtcdBackendOptions): Promise<EtcdBackend> {
    const b = new EtcdBackend(options);
    try {
      await b.#load();
      // What a writer that died midway left: finish its commit, drop its staging (best effort:
      // the next writer does it otherwise).
      await b.#tidy().catch(() => undefined);
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
    this.#maxTxnBytes = o.maxTxnBytes ?? 64 * 1024 * 1024;
    this.#partBytes = Math.floor(this.limits.maxBytes / 2);
    this.#stepHook = o.stagedStepForTest;
    if (o.writerId !== undefined && !isWriterId(o.writerId)) throw new BackendError('invalid', `writer id ${JSON.stringify(o.writerId)}: letters, digits, _ and - only`);
    this.#writerId = o.writerId;
    this.#client = connect(o);
    this.#writer = new StagedWriter({
      client: this.#client,
      layout: this.#layout,
      maxOps,
      maxBytes: this.limits.maxBytes,
      leaseSeconds: o.stagingLeaseSeconds ?? 60,
      call: (fn) => this.#call(fn),
    });
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
    const sub: Sub = { next: fromRevision + 1, onBatch, onError, replaying: false, replay: undefined, queue: Promise.resolve(), closed: false };
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
    if (follower) this.#cancels.cancel(follower);
    if (this.#rolling) this.#cancels.track(this.#rolling); // its requests fail closed; wait for them
    // Every watch on the client ends before it closes (bounded: a dead etcd never confirms a
    // cancel), and what is left is detached without letting a late response throw (`watch-teardown.ts`).
    await this.#cancels.end(this.#client, this.#clock, 2_000);
    this.#client.close();
  }

  /** Stops following etcd, as a lost connection does (tests of catching up after compaction). */
  suspendFollowingForTest(): void {
    const w = this.#follower;
    this.#follower = undefined;
    if (w) this.#cancels.cancel(w);
  }

  /** Follows etcd again from where it stopped. */
  resumeFollowingForTest(): void {
    if (!this.#follower && !this.#closed) this.#follow(this.#etcdRev + 1);
  }

  // ---- loading and following ----

  async #load(): Promise<void> {
    const snap = await this.#snapshot('');
    this.#index = new Map(snap.kvs.map((kv) => [kv.key, revisionsOf(kv, snap.parts.get(kv.key))]));
    this.#rev = snap.revision;
    this.#counterValue = snap.counter;
    this.#etcdRev = snap.etcdRevision;
    this.#compacted = snap.compacted;
    this.#staged = snap.chunks;
    this.#pending = snap.pending && snap.counter ? { ...snap.pending, counter: snap.counter } : undefined;
    this.#follow(snap.etcdRevision + 1);
  }

  /**
   * Every store key under `prefix` and what goes with it, at one etcd revision (`snapshot.ts`).
   * A read is safe to repeat: one that found a member down is sent again (to another one).
   */
  async #snapshot(prefix: string): Promise<Snapshot> {
    const read = <T>(fn: () => Promise<T>): Promise<T> => retryUnavailable(() => this.#call(fn), triesFor(this.#endpoints));
    const snap = await readSnapshot(this.#client, this.#layout, prefix, read);
    this.#remember(snap.revision, snap.etcdRevision);
    return snap;
  }

  /** Finishes a staged commit left unfinished and drops stagings whose writer died. */
  async #tidy(): Promise<void> {
    if (this.#pending) await this.#finish(this.#pending);
    const orphans = this.#staged.orphans(this.#pending?.record.token);
    if (orphans.length > 0) await this.#writer.discard(orphans);
  }

  /** Follows every change under the root from `etcdRevision` on, keeping the index current. */
  #follow(etcdRevision: number): void {
    // A reload whose last read answered after close began: a watcher now would outlive the client.
    if (this.#closed) return;
    const w = this.#client
      .watch()
      .prefix(`${this.#layout.root}/`)
      .startRevision(String(etcdRevision))
      .withPreviousKV()
      .watcher();
    w.on('data', (res) => {
      if (this.#follower === w) this.#onFollowed(res); // not a watcher given up (reload, suspend)
    });
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
      let staged: Pending | undefined;
      let record: CommitRecord | undefined;
      try {
        for (const ev of group.events) {
          const key = ev.kv.key.toString();
          if (this.#staged.take(this.#layout, key, ev.type, ev.kv.value)) continue;
          if (key === this.#layout.compactedKey && ev.type === 'Put') this.#compacted = Math.max(this.#compacted, decodeCounter(ev.kv.value));
          if (key !== this.#layout.commitKey) continue;
          if (ev.type === 'Put') record = decodeRecord(ev.kv.value);
          else if (ev.prev_kv && this.#pending?.record.token === decodeRecord(ev.prev_kv.value).token) this.#pending = undefined; // finalized
        }
        commit = toBatch(this.#layout, group.events);
      } catch (err) {
        this.#failAll(err as Error);
        return;
      }
      if (commit && record && commit.batch.revision > this.#rev) {
        let entries: StagedEntry[];
        try {
          entries = this.#staged.payload(record);
        } catch {
          // A chunk never seen (cannot happen while the watch is continuous): a snapshot resolves it.
          this.#restartFromEtcd();
          return;
        }
        staged = { record, entries, counter: commit.counter };
        commit = { ...commit, batch: { revision: commit.batch.revision, events: payloadEvents(entries, commit.batch.revision) } };
      }
      if (commit) this.#apply(commit.batch, group.etcdRevision, commit.counter, staged ? { staged } : {});
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
        const events = differences(this.#index, snap);
        this.#compacted = Math.max(this.#compacted, snap.compacted);
        this.#staged = snap.chunks;
        if (snap.revision > this.#rev) this.#apply({ revision: snap.revision, events }, snap.etcdRevision, snap.counter, { reloaded: true, parts: snap.parts });
        this.#pending = snap.pending && snap.counter ? { ...snap.pending, counter: snap.counter } : undefined;
        this.#follow(snap.etcdRevision + 1);
        return;
      } catch {
        // etcd not answering: try again shortly (the watch is what every commit waits on).
        if (this.#closed) return;
        await this.#clock.sleep(Math.min(this.#timeoutMs, 1_000));
      }
    }
  }

  /**
   * Applies one store commit to the index and tells live subscribers and waiters. `staged`: the
   * commit is a staged one (pending until rolled forward); `parts`: split values (a reload).
   */
  #apply(
    batch: WatchBatch,
    etcdRevision: number,
    counter: Buffer | undefined,
    extra: { reloaded?: boolean; parts?: ReadonlyMap<string, number>; staged?: Pending } = {},
  ): void {
    this.#remember(batch.revision, etcdRevision);
    if (batch.revision <= this.#rev) return; // already applied (our own commit, seen again)
    if (batch.revision !== this.#rev + 1 && extra.reloaded !== true) {
      // A hole means the prefix was rewritten behind our back: start over from etcd.
      this.#restartFromEtcd();
      return;
    }
    const parts = extra.parts ?? (extra.staged ? new Map(extra.staged.entries.map((e) => [e.k, e.n ?? 0])) : undefined);
    for (const ev of batch.events) {
      if (ev.type === 'put') this.#index.set(ev.key, { c: ev.createRevision, m: ev.modRevision, ...(parts?.get(ev.key) ? { n: parts.get(ev.key)! } : {}) });
      else this.#index.delete(ev.key);
    }
    if (extra.staged) this.#pending = extra.staged;
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

  /** Stops following and reloads from a snapshot, then follows on from it. */
  #restartFromEtcd(): void {
    if (this.#follower) this.#cancels.cancel(this.#follower);
    this.#follower = undefined;
    this.#reloading ??= this.#reload().finally(() => (this.#reloading = undefined));
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
      if (this.#rolling) await this.#rolling;
      if (this.#pending) {
        // A staged commit not rolled forward yet (ours that failed midway, or another writer's):
        // the data keys must hold it before anything else is written over them.
        await this.#finish(this.#pending);
        continue;
      }
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
      const success = oneTxnOps(this.#layout, effective, this.#index, next, this.limits);
      if (success === undefined) {
        const r = await this.#commitStaged(effective, base, fence);
        if (r === 'again') continue;
        return r;
      }
      const ours = encodeCounter(next, commitToken(randomBytes(6).toString('hex'), fence?.createRevision, this.#writerId));
      const res = await this.#sendCommit(success, ours, this.#counterValue, [], [], fence);
      if (res === 'committed') {
        await this.#applied(next);
        return { succeeded: true, revision: next };
      }
      if (res.succeeded) {
        const batch = ownBatch(effective, this.#index, res.responses.map((r) => r.response_delete_range), next);
        if (this.#rev === base) this.#apply(batch, Number(res.header.revision), ours);
        this.#maybeCompact(next);
        return { succeeded: true, revision: next };
      }
      this.#checkFence(res, fence);
      await this.#lostRace(res, base);
    }
  }

  /**
   * A transaction too large for one etcd txn: stage its payload, commit it with one small txn
   * (the compares every commit makes, the counter, the commit record), then roll it forward.
   * 'again': the counter moved meanwhile (or the staging expired): start over.
   */
  async #commitStaged(effective: readonly Op[], base: number, fence: Fence | undefined): Promise<TxnResult | 'again'> {
    const baseValue = this.#counterValue;
    const deletes = effective.filter((op) => op.type === 'delete').map((op) => ({ key: op.key, parts: this.#index.get(op.key)?.n ?? 0 }));
    // Watchers and history get a delete's value, which the index does not keep: read it at the base.
    const prev = deletes.length > 0 ? await this.#writer.readValues(deletes, baseValue) : new Map<string, string>();
    if (prev === 'moved') {
      await this.#applied(await this.#counter());
      return 'again';
    }
    const entries = stagedEntries(effective, this.#index, prev, this.#partBytes);
    const bytes = StagedWriter.sizeOf(entries);
    if (bytes > this.#maxTxnBytes) {
      throw new BackendError(
        'too_large',
        `a transaction of ${entries.length} writes (${bytes} bytes) is larger than the store commits at once ` +
          `(${this.#maxTxnBytes} bytes: the etcd backend's maxTxnBytes); nothing was written`,
      );
    }
    const orphans = this.#staged.orphans(undefined);
    if (orphans.length > 0) await this.#writer.discard(orphans).catch(() => undefined);
    const staging = await this.#writer.stage(entries);
    await this.#stepHook?.('staged');
    const next = base + 1;
    const ours = encodeCounter(next, commitToken(staging.token, fence?.createRevision, this.#writerId));
    const record: CommitRecord = { revision: next, token: staging.token, chunks: staging.chunks };
    const res = await this.#sendCommit(
      [
        { request_put: { key: Buffer.from(this.#layout.commitKey), value: encodeRecord(record) } },
        // Off the lease: a committed staging stays until it is rolled forward.
        { request_put: { key: staging.header, value: Buffer.from('committed') } },
      ],
      ours,
      baseValue,
      [{ key: staging.header, target: 'Version', result: 'Greater', version: 0 }],
      [{ request_range: { key: staging.header, count_only: true } }],
      fence,
    );
    if (res !== 'committed' && !res.succeeded) {
      await this.#writer.abandon(staging).catch(() => undefined);
      this.#checkFence(res, fence);
      // The counter moved (another commit: wait for it, check again), or the staging expired
      // (stage again); any other compare that failed is the caller's to hear.
      const expired = Number(res.responses[1]?.response_range.count ?? 0) === 0;
      await this.#lostRace(res, base, expired);
      return 'again';
    }
    this.#writer.release(staging);
    const pending: Pending = { record, entries, counter: ours };
    if (res === 'committed') await this.#applied(next);
    else if (this.#rev === base) this.#apply({ revision: next, events: payloadEvents(entries, next) }, Number(res.header.revision), ours, { staged: pending });
    this.#maybeCompact(next);
    await this.#stepHook?.('committed');
    // Committed: readers have it all, so the caller need not wait for the roll-forward. If it
    // fails, the next writer (or open) does it.
    const rolling = this.#finish(pending)
      .catch(() => undefined)
      .finally(() => {
        if (this.#rolling === rolling) this.#rolling = undefined;
      });
    this.#rolling = rolling;
    return { succeeded: true, revision: next };
  }

  /** Rolls a committed staged commit forward into the data keys and removes its record. */
  async #finish(p: Pending): Promise<void> {
    await this.#writer.rollForward(p.record, p.entries, p.counter);
    // The watch may have set its own copy (it applied the commit first): the token tells.
    if (this.#pending?.record.token === p.record.token) this.#pending = undefined;
  }

  /**
   * A commit txn failed on its compares: another writer committed first (wait for the watch to
   * bring its changes). `mayHold`: the counter may still hold (a staged commit whose staging
   * expired); otherwise a counter that still holds means it was rewritten (or, once more
   * compares join `#commitCompares`, that one of those failed: tell it here).
   */
  async #lostRace(res: ITxnResponse, base: number, mayHold = false): Promise<void> {
    const current = decodeCounter(res.responses[0]?.response_range.kvs[0]?.value);
    if (current > base) {
      await this.#applied(current);
      return;
    }
    if (mayHold && current === base) return;
    // Not another commit (that would have moved it on): the counter was rewritten.
    throw new BackendError('internal', `the store revision counter in etcd was rewritten (${base} expected, ${current} found): was ${this.#layout.root} changed by hand?`);
  }

  /**
   * What every commit txn compares: the counter still holds `baseValue`, its value at the
   * revision the commit was checked against (nothing under the prefix changed since).
   */
  #commitCompares(baseValue: Buffer | undefined): ICompare[] {
    const counterKey = Buffer.from(this.#layout.counterKey);
    return [
      baseValue === undefined
        ? { key: counterKey, target: 'Version', result: 'Equal', version: 0 }
        : { key: counterKey, target: 'Value', result: 'Equal', value: baseValue },
    ];
  }

  /**
   * A commit txn that failed on its compares with a `fence`: when the fence is what failed (the
   * leader key is gone or re-created: its range, the last failure response, says so), the term
   * of leadership ended; nothing was written.
   */
  #checkFence(res: ITxnResponse, fence: Fence | undefined): void {
    if (!fence) return;
    const held = Number(res.responses[res.responses.length - 1]?.response_range.kvs[0]?.create_revision ?? 0);
    if (held !== fence.createRevision) {
      throw new BackendError('fenced', `not written: the term of leadership this write was fenced on (${fence.key} created at etcd revision ${fence.createRevision}) has ended`);
    }
  }

  /**
   * Sends a commit txn: the commit compares against the base counter value `baseValue` (and
   * `extra`), then `success` and the counter's new value `ours`. On failure the response holds
   * the counter, then what `extraFailure` reads, then the fence's key (with a `fence`). `baseValue` is taken when the commit was checked, not now: the watch may have
   * moved the counter on since (a staged commit awaits between the two).
   */
  #sendCommit(
    success: IRequestOp[],
    ours: Buffer,
    baseValue: Buffer | undefined,
    extra: ICompare[] = [],
    extraFailure: IRequestOp[] = [],
    fence?: Fence,
  ): Promise<ITxnResponse | 'committed'> {
    const counterKey = Buffer.from(this.#layout.counterKey);
    // The leader's term (see backend.ts `Fence`): its key still there, not re-created.
    const fenceKey = fence ? Buffer.from(fence.key) : undefined;
    return this.#send(
      {
        compare: [...this.#commitCompares(baseValue), ...(fence && fenceKey ? [{ key: fenceKey, target: 'Create' as const, result: 'Equal' as const, create_revision: fence.createRevision }] : []), ...extra],
        success: [...success, { request_put: { key: counterKey, value: ours } }],
        failure: [{ request_range: { key: counterKey } }, ...extraFailure, ...(fenceKey ? [{ request_range: { key: fenceKey } }] : [])],
      },
      baseValue,
      ours,
    );
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
    const maxTries = triesFor(this.#endpoints);
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
      sub.queue = sub.queue.then(() => this.#replayed(sub, w, res, fromRevision));
    });
    w.on('error', (err) => {
      if (sub.closed || sub.replay !== w) return;
      this.#failSub(sub, isCompactedMessage(err) ? compactedRevisionError(fromRevision, this.#compacted) : toBackendError(err, this.#endpoints));
    });
  }

  /** Delivers one response of a replay; a staged commit's payload is read as of its etcd revision. */
  async #replayed(sub: Sub, w: Watcher, res: IWatchResponse, fromRevision: number): Promise<void> {
    for (const group of byEtcdRevision(res.events)) {
      if (sub.closed || sub.replay !== w) return;
      let batch: WatchBatch | undefined;
      try {
        batch = toBatch(this.#layout, group.events)?.batch;
        if (!batch || batch.revision < sub.next) continue;
        const put = group.events.find((ev) => ev.type === 'Put' && ev.kv.key.toString() === this.#layout.commitKey);
        if (put) {
          const entries = await payloadAt(this.#client, this.#layout, decodeRecord(put.kv.value), group.etcdRevision);
          batch = { revision: batch.revision, events: payloadEvents(entries, batch.revision) };
        }
      } catch (err) {
        const e = isCompactedMessage(err) ? compactedRevisionError(fromRevision, this.#compacted) : isBackendError(err) ? err : toBackendError(err, this.#endpoints);
        this.#failSub(sub, e);
        return;
      }
      if (sub.closed || sub.replay !== w) return;
      sub.next = batch.revision + 1;
      safeCall(sub, batch);
    }
    if (!sub.closed && sub.replay === w && sub.next > this.#rev) {
      // Caught up with the follower: live batches from here on.
      sub.replaying = false;
      sub.replay = undefined;
      this.#cancels.cancel(w);
    }
  }

  /** An etcd revision at which the counter read `revision` (`history.ts`). */
  async #etcdRevisionOf(revision: number): Promise<number> {
    if (revision === this.#rev) return this.#etcdRev;
    const known = this.#etcdRevs.get(revision);
    if (known !== undefined) return known;
    return findEtcdRevision(this.#client, this.#layout, revision, this.#etcdRev, (err) =>
      isCompactedMessage(err) ? compactedRevisionError(revision, this.#compacted) : toBackendError(err, this.#endpoints),
    );
  }

  // ---- plumbing ----

  #closeSub(sub: Sub): void {
    if (sub.closed) return;
    sub.closed = true;
    this.#subs.delete(sub);
    if (sub.replay) this.#cancels.cancel(sub.replay);
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

/** The index entry of `kv`, whose value is split into `parts` parts (undefined: inline). */
function revisionsOf(kv: KeyValue, parts: number | undefined): KeyRevisions {
  return parts ? { c: kv.createRevision, m: kv.modRevision, n: parts } : { c: kv.createRevision, m: kv.modRevision };
}
