import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { systemClock, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { silentLogger, type Logger } from '../../lib/logger.ts';
import type { Fence } from '../backend.ts';
import { Layout, prefixEnd } from './layout.ts';
import { DEFAULT_LEASE_TIMINGS, LeaseSession, type LeaseTimings } from './lease-session.ts';
import { bounded } from './watch-teardown.ts';

export type ElectionState = 'leader' | 'follower';

/** A manager taking part (its key lives under its lease), the leader marked. */
export interface ElectionMember {
  readonly id: string;
  readonly nodeId?: string;
  readonly addr: string;
  readonly leader: boolean;
}

/** This manager as it registers itself. */
export type ElectionSelf = Omit<ElectionMember, 'leader'>;

export interface EtcdElectionOptions {
  /** The store's root prefix (default `/flotilla`): the election lives under `<root>/election/`. */
  readonly root?: string;
  readonly self: ElectionSelf;
  /** Timers and the lease's local deadline. Default: the system clock. */
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Lease TTL, keep-alive period, safety margin (`DEFAULT_LEASE_TIMINGS`: 3 s, 1 s, 0.5 s). */
  readonly timings?: Partial<LeaseTimings>;
}

interface Term {
  /** etcd revision that created the leader key: the fence of this term's writes. */
  readonly createRevision: number;
  /** The lease it lives under. */
  readonly lease: string;
}

/**
 * Leader election and membership of the managers sharing one etcd (it satisfies the manager's
 * `Leadership`). Each manager holds a lease (TTL 3 s, kept alive every second) with its member
 * key under it; it leads while it holds the leader key, created under its lease only when no
 * leader key exists (compare createRevision = 0), and watches the election's keys to campaign
 * again when the leader key goes. A failed keep-alive is retried on another etcd member while
 * the lease is surely alive (`LeaseSession`), so one dead member is no leader change. It
 * reports `follower` on a definite loss: the lease's local deadline passed unconfirmed (it then
 * starts a new lease), etcd says the lease is gone, the leader key deleted, or a fenced write
 * refused. `fence()` names the term for fenced writes (`Store.fenced`): etcd refuses them once
 * that leader key is gone. `close()` revokes the lease, which removes both keys, so a clean
 * stop hands over at once; it leaves no timer running.
 */
export class EtcdElection {
  readonly #client: Etcd3;
  readonly #layout: Layout;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #timings: LeaseTimings;
  #self: ElectionSelf;
  #session: LeaseSession | undefined;
  #term: Term | undefined;
  /** The leader key's value (a manager id), as last seen. */
  #leaderId: string | undefined;
  readonly #members = new Map<string, ElectionSelf>();
  #state: ElectionState = 'follower';
  #watcher: Watcher | undefined;
  #campaigning = false;
  #campaignAgain = false;
  #closed = false;
  #listeners: Array<(s: ElectionState) => void> = [];
  #memberListeners: Array<() => void> = [];
  #membersView: readonly ElectionMember[] = [];
  #membersText = '[]';
  /** Pending pauses (retries of a campaign, a lease, a watch): cancelled and woken by `close()`. */
  readonly #pauses = new Map<TimerHandle, () => void>();

  /** Joins: grants a lease, registers this manager, reads and watches the election, campaigns. */
  static async open(client: Etcd3, options: EtcdElectionOptions): Promise<EtcdElection> {
    const e = new EtcdElection(client, options);
    try {
      await e.#resync();
      await e.#newSession();
    } catch (err) {
      await e.close();
      throw err;
    }
    return e;
  }

  private constructor(client: Etcd3, o: EtcdElectionOptions) {
    this.#client = client;
    this.#layout = new Layout(o.root ?? '/flotilla');
    this.#clock = o.clock ?? systemClock;
    this.#logger = (o.logger ?? silentLogger).child({ component: 'election' });
    this.#timings = { ...DEFAULT_LEASE_TIMINGS, ...o.timings };
    this.#self = o.self;
  }

  get state(): ElectionState {
    return this.#state;
  }

  /** The term this manager leads in, for fenced writes; undefined while following. */
  fence(): Fence | undefined {
    // `sure` reads the clock: past the lease's local deadline no fence, even before its timer ran.
    return this.#state === 'leader' && this.#session?.sure === true && this.#term ? { key: this.#layout.leaderKey, createRevision: this.#term.createRevision } : undefined;
  }

  /**
   * A write fenced on this term was refused: the leader key is gone or someone else's, though
   * the watch has not said so yet. Steps down now and reads the leader key again.
   */
  fenceRefused(refused: Fence): void {
    if (this.#closed || !this.#term) return;
    // A write of an earlier term of ours, still in flight when that term ended: not this one.
    if (refused.createRevision !== this.#term.createRevision) return;
    this.#logger.warn('a fenced write was refused: this term has ended; stepping down');
    this.#term = undefined;
    this.#recompute();
    void this.#recheck();
  }

  async #recheck(): Promise<void> {
    try {
      const res = await this.#client.kv.range({ key: Buffer.from(this.#layout.leaderKey) });
      if (this.#closed) return;
      const kv = res.kvs[0];
      if (kv) this.#sawLeader(kv);
      else this.#leaderId = undefined;
      this.#recompute();
      if (!kv) void this.#campaign();
    } catch (err) {
      this.#logger.debug({ err }, 'could not read the leader key');
    }
  }

  onChange(listener: (s: ElectionState) => void): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => (this.#listeners = this.#listeners.filter((l) => l !== listener));
  }

  /** Every manager with a live lease, by id, the leader marked. */
  members(): readonly ElectionMember[] {
    return this.#membersView;
  }

  onMembersChange(listener: () => void): () => void {
    this.#memberListeners = [...this.#memberListeners, listener];
    return () => (this.#memberListeners = this.#memberListeners.filter((l) => l !== listener));
  }

  /** Records the node of the agent beside this manager (known once it joined). */
  setNodeId(nodeId: string): void {
    this.#self = { ...this.#self, nodeId };
    const session = this.#session;
    if (session) void this.#register(session).catch((err: unknown) => this.#logger.warn({ err }, 'could not update this manager’s member key'));
  }

  /** Resigns: revokes the lease (the leader key and member key go with it). No change is reported afterwards. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = 'follower';
    this.#listeners = [];
    this.#memberListeners = [];
    this.#wakePauses();
    const w = this.#watcher;
    this.#watcher = undefined;
    const session = this.#session;
    this.#session = undefined;
    session?.stop();
    await Promise.all([session?.revoke(), w ? this.#bounded(w.cancel().catch(() => undefined)) : undefined]);
  }

  // ---- sessions ----

  async #newSession(): Promise<void> {
    const session = await LeaseSession.grant(this.#client, this.#clock, this.#timings, {
      ended: (why) => this.#sessionEnded(session, why),
      failed: (err) => this.#logger.debug({ err, lease: session.id }, 'a keep-alive of the etcd lease failed; trying again'),
    });
    if (this.#closed) {
      session.stop();
      await session.revoke();
      return;
    }
    this.#session = session;
    try {
      await this.#register(session);
    } catch (err) {
      if (this.#session === session) this.#session = undefined;
      session.stop();
      await session.revoke();
      throw err;
    }
    await this.#campaign();
  }

  #sessionEnded(session: LeaseSession, why: string): void {
    if (this.#closed || this.#session !== session) return;
    this.#logger.warn({ lease: session.id }, `lost the etcd lease: ${why}`);
    this.#session = undefined;
    this.#term = undefined;
    this.#recompute();
    void session.revoke();
    void this.#renew();
  }

  /** A new session, tried every keep-alive period until etcd answers. */
  async #renew(): Promise<void> {
    while (!this.#closed && !this.#session) {
      try {
        await this.#newSession();
        return;
      } catch (err) {
        this.#logger.debug({ err }, 'no new etcd lease yet');
        await this.#pause(this.#timings.keepAliveMs);
      }
    }
  }

  async #register(session: LeaseSession): Promise<void> {
    const self = this.#self;
    const value = JSON.stringify({ id: self.id, ...(self.nodeId !== undefined ? { nodeId: self.nodeId } : {}), addr: self.addr });
    await this.#client.kv.put({ key: Buffer.from(this.#layout.membersPrefix + self.id), value: Buffer.from(value), lease: session.id });
  }

  // ---- campaigning ----

  async #campaign(): Promise<void> {
    if (this.#campaigning) {
      this.#campaignAgain = true;
      return;
    }
    this.#campaigning = true;
    try {
      do {
        this.#campaignAgain = false;
        await this.#campaignOnce();
      } while (this.#campaignAgain && !this.#closed);
    } finally {
      this.#campaigning = false;
    }
  }

  async #campaignOnce(): Promise<void> {
    const session = this.#session;
    if (this.#closed || !session || !session.sure || this.#term?.lease === session.id) return;
    const key = Buffer.from(this.#layout.leaderKey);
    let res;
    try {
      res = await this.#client.kv.txn({
        compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key, value: Buffer.from(this.#self.id), lease: session.id } }],
        failure: [{ request_range: { key } }],
      });
    } catch (err) {
      // etcd did not answer: try again shortly (a lost lease is the session's to notice).
      this.#logger.debug({ err }, 'campaign failed');
      if (this.#closed) return;
      void this.#pause(this.#timings.keepAliveMs).then(() => this.#campaign());
      return;
    }
    if (this.#closed || this.#session !== session) return;
    if (res.succeeded) {
      this.#term = { createRevision: Number(res.header.revision), lease: session.id };
      this.#leaderId = this.#self.id;
    } else {
      const kv = res.responses[0]?.response_range.kvs[0];
      if (!kv) this.#campaignAgain = true; // gone in between
      else this.#sawLeader(kv);
    }
    this.#recompute();
  }

  /** The leader key as etcd has it now. */
  #sawLeader(kv: IKeyValue): void {
    this.#leaderId = kv.value.toString();
    const session = this.#session;
    this.#term = session && String(kv.lease) === String(session.id) ? { createRevision: Number(kv.create_revision), lease: session.id } : undefined;
  }

  // ---- watching ----

  /** Reads the election's keys, then watches them from there (again after a watch error). */
  async #resync(): Promise<void> {
    const prefix = Buffer.from(this.#layout.electionPrefix);
    const res = await this.#client.kv.range({ key: prefix, range_end: prefixEnd(prefix) });
    if (this.#closed) return;
    this.#members.clear();
    let leader: IKeyValue | undefined;
    for (const kv of res.kvs) {
      if (kv.key.toString() === this.#layout.leaderKey) leader = kv;
      else this.#putMember(kv);
    }
    if (leader) this.#sawLeader(leader);
    else {
      this.#leaderId = undefined;
      this.#term = undefined;
    }
    this.#recompute();
    if (!leader) void this.#campaign();
    const w = this.#client.watch().prefix(this.#layout.electionPrefix).startRevision(String(Number(res.header.revision) + 1)).watcher();
    w.on('data', (r) => this.#onEvents(r));
    w.on('error', (err) => {
      if (this.#closed || this.#watcher !== w) return;
      this.#logger.warn({ err }, 'the election watch failed; reading the election again');
      this.#watcher = undefined;
      void w.cancel().catch(() => undefined);
      void this.#resyncUntilDone();
    });
    this.#watcher = w;
  }

  async #resyncUntilDone(): Promise<void> {
    while (!this.#closed && !this.#watcher) {
      try {
        await this.#resync();
      } catch {
        await this.#pause(this.#timings.keepAliveMs);
      }
    }
  }

  #onEvents(res: IWatchResponse): void {
    if (this.#closed) return;
    let leaderGone = false;
    for (const ev of res.events) {
      if (ev.kv.key.toString() === this.#layout.leaderKey) {
        if (ev.type === 'Put') {
          this.#sawLeader(ev.kv);
        } else {
          this.#leaderId = undefined;
          this.#term = undefined;
          leaderGone = true;
        }
      } else if (ev.type === 'Put') {
        this.#putMember(ev.kv);
      } else {
        this.#members.delete(ev.kv.key.toString().slice(this.#layout.membersPrefix.length));
      }
    }
    this.#recompute();
    if (leaderGone) void this.#campaign();
  }

  #putMember(kv: IKeyValue): void {
    const key = kv.key.toString();
    if (!key.startsWith(this.#layout.membersPrefix)) return;
    try {
      const m = JSON.parse(kv.value.toString()) as { id?: unknown; nodeId?: unknown; addr?: unknown };
      if (typeof m.id !== 'string' || typeof m.addr !== 'string') return;
      this.#members.set(m.id, { id: m.id, addr: m.addr, ...(typeof m.nodeId === 'string' ? { nodeId: m.nodeId } : {}) });
    } catch {
      this.#logger.warn({ key }, 'ignoring a manager member key that is not JSON');
    }
  }

  // ---- state ----

  /** Derives `state` and `members()` from what is known, and tells the listeners of changes. */
  #recompute(): void {
    if (this.#closed) return;
    const session = this.#session;
    const state: ElectionState = session?.sure === true && this.#term?.lease === session.id ? 'leader' : 'follower';
    if (state !== this.#state) {
      this.#state = state;
      this.#logger.info({ id: this.#self.id }, state === 'leader' ? 'leading the cluster' : 'not leading the cluster');
      for (const l of this.#listeners) this.#safely(() => l(state));
    }
    const members = [...this.#members.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      // A manager restarted with its old id sees its previous life's leader key until that
      // lease expires: it leads only with a term of its own, so it never names itself meanwhile.
      .map((m): ElectionMember => ({ ...m, leader: m.id === this.#leaderId && (m.id !== this.#self.id || state === 'leader') }));
    const text = JSON.stringify(members);
    if (text === this.#membersText) return;
    this.#membersText = text;
    this.#membersView = Object.freeze(members.map((m) => Object.freeze(m)));
    for (const l of this.#memberListeners) this.#safely(l);
  }

  #safely(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#logger.error({ err }, 'an election listener threw');
    }
  }

  /** Resolves after `ms`, or at once when closed (`close()` wakes pending ones). */
  #pause(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.#clock.setTimer(ms, () => {
        this.#pauses.delete(timer);
        resolve();
      });
      this.#pauses.set(timer, resolve);
    });
  }

  #wakePauses(): void {
    for (const [timer, resolve] of this.#pauses) {
      timer.cancel();
      resolve();
    }
    this.#pauses.clear();
  }

  /** `p`, or nothing after 2 s (a dead etcd never confirms a watch cancel). */
  #bounded(p: Promise<unknown>): Promise<void> {
    return bounded(p, this.#clock, 2_000);
  }
}
