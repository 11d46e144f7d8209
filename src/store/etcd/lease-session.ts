import type { Etcd3 } from 'etcd3';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import { openKeepAlive } from './keep-alive-stream.ts';

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

/**
 * How soon a keep-alive that failed with an error is tried again: on another member than the
 * one that failed (`openKeepAlive`).
 */
const RETRY_MS = 100;

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = { ttlMs: 3_000, keepAliveMs: 1_000, marginMs: 500 };

/** What a session tells its owner. */
export interface LeaseSessionEvents {
  /**
   * The session is over: the local deadline passed without a confirmed keep-alive (the lease
   * may expire at etcd from then on), or etcd said the lease is gone. Called once; nothing follows.
   */
  ended(why: string): void;
  /** A keep-alive failed or went unanswered; the session tries again (another member) until its deadline. */
  failed?(err: unknown): void;
}

/**
 * One etcd lease kept alive by this process, with a local deadline that never trusts the
 * lease longer than etcd can. A failed or unanswered keep-alive is tried again soon, on
 * another etcd member, and the lease stays `sure` meanwhile: etcd renewed
 * it no earlier than the last confirmed keep-alive was sent, so it cannot expire before that
 * send time plus the TTL. The session ends (`ended`) only when the deadline (that time minus
 * `marginMs`) passes unconfirmed, or etcd says the lease is gone. Time comes from the injected
 * clock; `stop()` leaves no timer or stream behind.
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
  /** The keep-alive in flight: its stream (once open) and its answer timer. */
  #attempt: Attempt | undefined;
  /** The member the last failed keep-alive went to: the next ones go elsewhere while there is another. */
  #avoid: object | undefined;
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

  /**
   * True until the session ends, and never past the local deadline (read from the clock, so a
   * late deadline timer cannot stretch it): etcd cannot have expired the lease meanwhile.
   */
  get sure(): boolean {
    return !this.#over && this.#clock.now() < this.#deadline;
  }

  /** Stops keeping the lease alive (it expires at etcd by itself unless revoked); cancels every timer and the stream in flight. Idempotent. */
  stop(): void {
    this.#over = true;
    this.#tick?.cancel();
    this.#retry?.cancel();
    this.#deadlineTimer?.cancel();
    const attempt = this.#attempt;
    this.#attempt = undefined;
    attempt?.timer?.cancel();
    attempt?.stream?.cancel();
  }

  /** Revokes the lease at etcd (its keys go at once); a failure is ignored (it expires anyway). */
  async revoke(): Promise<void> {
    try {
      await this.#client.leaseClient.leaseRevoke({ ID: this.id });
    } catch {
      // unreachable or already gone: the TTL removes it
    }
  }

  /** A keep-alive every period, unless one (or its retry) is under way. */
  #schedule(): void {
    if (this.#over) return;
    this.#tick = this.#clock.setTimer(this.#t.keepAliveMs, () => {
      this.#schedule();
      if (!this.#attempt && !this.#retry) void this.#keepAlive();
    });
  }

  #armDeadline(): void {
    this.#deadlineTimer?.cancel();
    this.#deadlineTimer = this.#clock.setTimer(Math.max(0, this.#deadline - this.#clock.now()), () => {
      this.#end('no keep-alive of the lease was confirmed in time: it may expire at etcd');
    });
  }

  #end(why: string): void {
    if (this.#over) return;
    this.stop();
    this.#events.ended(why);
  }

  async #keepAlive(): Promise<void> {
    const attempt: Attempt = {};
    this.#attempt = attempt;
    const sent = this.#clock.now();
    let ttl: number;
    try {
      ttl = await this.#once(attempt);
    } catch (err) {
      if (this.#attempt !== attempt) return; // stopped meanwhile
      this.#attempt = undefined;
      this.#avoid = attempt.member ?? this.#avoid;
      this.#events.failed?.(err);
      // Until the deadline the lease is alive at etcd: try again on another member (`#avoid`),
      // soon after an error, at once after a timeout (half a period has passed already).
      const timedOut = err instanceof KeepAliveUnanswered;
      this.#retry = this.#clock.setTimer(timedOut ? 0 : RETRY_MS, () => {
        this.#retry = undefined;
        if (!this.#over && !this.#attempt) void this.#keepAlive();
      });
      return;
    }
    if (this.#attempt !== attempt) return;
    this.#attempt = undefined;
    if (ttl <= 0) {
      this.#end('etcd says the lease is gone (expired or revoked)');
      return;
    }
    const deadline = sent + ttl * 1000 - this.#t.marginMs;
    if (deadline > this.#deadline) {
      this.#deadline = deadline;
      this.#armDeadline();
    }
  }

  /**
   * One keep-alive on its own stream: the TTL etcd answered (0: no such lease). Unanswered
   * after half a keep-alive period (a frozen member, or only a slow one) it is cancelled and
   * the next try goes to another member first; the cancel is no failure of the member (it is
   * not passed over: with one member, the retry goes to it again).
   */
  async #once(attempt: Attempt): Promise<number> {
    const opened = await openKeepAlive(this.#client, this.#avoid);
    const { stream, member } = opened;
    if (this.#attempt !== attempt) {
      opened.cancel();
      throw new KeepAliveUnanswered('stopped');
    }
    attempt.stream = opened;
    attempt.member = member;
    return new Promise<number>((resolve, reject) => {
      attempt.timer = this.#clock.setTimer(Math.max(50, Math.floor(this.#t.keepAliveMs / 2)), () => {
        opened.cancel();
        reject(new KeepAliveUnanswered('keep-alive not answered'));
      });
      stream.on('data', (res) => {
        attempt.timer?.cancel();
        stream.end();
        resolve(Number(res.TTL));
      });
      stream.on('error', (err) => {
        attempt.timer?.cancel();
        reject(err);
      });
      stream.write({ ID: this.id });
    });
  }
}

/** One keep-alive in flight: its stream once open, and its answer timer. */
interface Attempt {
  /** Cancels its stream (`KeepAliveStream.cancel`: not counted as a failure of the member). */
  stream?: { cancel(): void };
  /** The member it went to. */
  member?: object | undefined;
  timer?: TimerHandle;
}

/** A keep-alive stream that did not answer in time. */
class KeepAliveUnanswered extends Error {}
