import type { Etcd3 } from 'etcd3';
import type { Clock, TimerHandle } from '../../lib/clock.ts';

/** Timings of a lease session (milliseconds). */
export interface LeaseTimings {
  /** The lease's TTL at etcd (whole seconds; at least 1 s). Default 3,000. */
  readonly ttlMs: number;
  /** How often a keep-alive is sent. Default 1,000. */
  readonly keepAliveMs: number;
  /**
   * How long before the lease could expire at etcd this side gives it up: the local deadline
   * is `sent + TTL - marginMs`, where `sent` is when the last confirmed keep-alive (or the
   * grant) was sent — etcd renewed it no earlier, so it cannot expire before `sent + TTL`.
   * Covers the two clocks running at slightly different rates and the step-down's own time.
   * Default 500.
   */
  readonly marginMs: number;
}

/** How soon a failed keep-alive is tried again. */
const RETRY_MS = 200;

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = { ttlMs: 3_000, keepAliveMs: 1_000, marginMs: 500 };

/** What a session tells its owner. */
export interface LeaseSessionEvents {
  /** Whether the lease is surely alive changed: false after a failed keep-alive, true after a confirmed one. */
  sure(sure: boolean): void;
  /**
   * The session is over: the local deadline passed without a confirmed keep-alive (the lease
   * may have expired at etcd), or etcd said the lease is gone. Called once; nothing follows.
   */
  ended(why: string): void;
}

/**
 * One etcd lease kept alive by this process, with a local deadline that never trusts the
 * lease longer than etcd can: `sure` turns false on a failed keep-alive, and the session ends
 * (`ended`) when the deadline passes unconfirmed — before etcd can expire the lease, not after.
 * Time comes from the injected clock.
 */
export class LeaseSession {
  /** The lease id (decimal text, as etcd3 gives it). */
  readonly id: string;
  readonly #client: Etcd3;
  readonly #clock: Clock;
  readonly #t: LeaseTimings;
  readonly #events: LeaseSessionEvents;
  #deadline: number;
  #deadlineTimer: TimerHandle | undefined;
  #tick: TimerHandle | undefined;
  #retry: TimerHandle | undefined;
  #inFlight = false;
  #sure = true;
  #over = false;

  /** Grants a lease (rejects when etcd does not answer) and keeps it alive from then on. */
  static async grant(client: Etcd3, clock: Clock, timings: LeaseTimings, events: LeaseSessionEvents): Promise<LeaseSession> {
    const sent = clock.now();
    const res = await client.leaseClient.leaseGrant({ TTL: Math.max(1, Math.round(timings.ttlMs / 1000)) });
    const ttl = Number(res.TTL) * 1000;
    const s = new LeaseSession(client, clock, timings, events, res.ID, sent + ttl - timings.marginMs);
    if (clock.now() >= s.#deadline) {
      s.stop();
      await s.revoke();
      throw new Error(`etcd took too long to grant a lease (${clock.now() - sent} ms of a ${ttl} ms TTL)`);
    }
    s.#armDeadline();
    s.#schedule();
    return s;
  }

  private constructor(client: Etcd3, clock: Clock, timings: LeaseTimings, events: LeaseSessionEvents, id: string, deadline: number) {
    this.#client = client;
    this.#clock = clock;
    this.#t = timings;
    this.#events = events;
    this.id = id;
    this.#deadline = deadline;
  }

  /** True while the last keep-alive was confirmed and the local deadline has not passed. */
  get sure(): boolean {
    return this.#sure && !this.#over;
  }

  /** Stops keeping the lease alive (it expires at etcd by itself unless revoked). Idempotent. */
  stop(): void {
    this.#over = true;
    this.#tick?.cancel();
    this.#retry?.cancel();
    this.#deadlineTimer?.cancel();
  }

  /** Revokes the lease at etcd (its keys go at once); a failure is ignored (it expires anyway). */
  async revoke(): Promise<void> {
    try {
      await this.#client.leaseClient.leaseRevoke({ ID: this.id });
    } catch {
      // unreachable or already gone: the TTL removes it
    }
  }

  #schedule(): void {
    if (this.#over) return;
    this.#tick = this.#clock.setTimer(this.#t.keepAliveMs, () => {
      this.#schedule();
      if (!this.#inFlight) void this.#keepAlive();
    });
  }

  #armDeadline(): void {
    this.#deadlineTimer?.cancel();
    this.#deadlineTimer = this.#clock.setTimer(Math.max(0, this.#deadline - this.#clock.now()), () => {
      this.#end('no keep-alive of the lease was confirmed in time: it may have expired at etcd');
    });
  }

  #end(why: string): void {
    if (this.#over) return;
    this.stop();
    this.#events.ended(why);
  }

  #setSure(sure: boolean): void {
    if (this.#over || this.#sure === sure) return;
    this.#sure = sure;
    this.#events.sure(sure);
  }

  async #keepAlive(): Promise<void> {
    this.#inFlight = true;
    const sent = this.#clock.now();
    try {
      const ttl = await this.#once();
      if (this.#over) return;
      if (ttl <= 0) {
        this.#end('etcd says the lease is gone (expired or revoked)');
        return;
      }
      const deadline = sent + ttl * 1000 - this.#t.marginMs;
      if (deadline > this.#deadline) {
        this.#deadline = deadline;
        this.#armDeadline();
      }
      this.#setSure(true);
    } catch {
      this.#setSure(false);
      // Another member may answer (the client skips a failed one): try again soon, not a tick later.
      if (!this.#over) {
        this.#retry?.cancel();
        this.#retry = this.#clock.setTimer(RETRY_MS, () => {
          if (!this.#inFlight && !this.#over) void this.#keepAlive();
        });
      }
    } finally {
      this.#inFlight = false;
    }
  }

  /** One keep-alive on its own stream: the TTL etcd answered (0: no such lease). */
  async #once(): Promise<number> {
    const stream = await this.#client.leaseClient.leaseKeepAlive();
    return new Promise<number>((resolve, reject) => {
      // A stream that does not answer within a keep-alive period (a frozen member, or one cut
      // off) is given up, so the retry can reach another member before the deadline passes
      // (the client passes over a member whose stream failed).
      const timer = this.#clock.setTimer(this.#t.keepAliveMs, () => {
        stream.cancel();
        reject(new Error('keep-alive not answered'));
      });
      stream.on('data', (res) => {
        timer.cancel();
        stream.end();
        resolve(Number(res.TTL));
      });
      stream.on('error', (err) => {
        timer.cancel();
        reject(err);
      });
      stream.write({ ID: this.id });
    });
  }
}
