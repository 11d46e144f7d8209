import { GRPCCancelledError, GRPCDeadlineExceededError, isRecoverableError } from 'etcd3';
import type { Clock } from '../../lib/clock.ts';

/** How long a member that failed is passed over before it is tried again. */
export const HOST_PAUSE_MS = 5_000;

/**
 * The etcd client's policy for one member, in place of its default circuit breaker (which
 * opens after 3 failures it classes as recoverable, and never for a deadline exceeded): one
 * failure — a transport error or a call past its deadline, as a member cut off from the
 * network gives — pauses the member for `HOST_PAUSE_MS`, so the next calls go to the others;
 * then one call tries it again. A paused member is passed over only while another member of
 * the same client (`members`, shared by the breakers of one client) is not paused: with one
 * member, or all paused, every call is still made, and fails with the member's own error. A
 * cancel is no failure of the member (our own code cancels streams). A call passed over fails
 * as a broken circuit (the client tries the next member) carrying the failure that paused the
 * member (`lastFailure`, which `toBackendError` reports).
 */
export class HostBreaker {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #members: HostBreaker[];
  #pausedUntil = 0;
  #lastFailure: Error | undefined;

  /** A breaker for one member; it joins `members`, the breakers of the same client's members. */
  constructor(clock: Pick<Clock, 'now'>, members: HostBreaker[] = []) {
    this.#clock = clock;
    this.#members = members;
    members.push(this);
  }

  /** Whether the member failed less than `HOST_PAUSE_MS` ago (and has not answered since). */
  get paused(): boolean {
    return this.#clock.now() < this.#pausedUntil;
  }

  /** Whether calls are passed over now: paused, and another member is not. */
  get open(): boolean {
    return this.paused && this.#members.some((m) => m !== this && !m.paused);
  }

  async execute<T>(fn: (ctx: { signal: AbortSignal }) => Promise<T> | T): Promise<T> {
    if (this.open) throw new MemberPassedOver(this.#lastFailure);
    let result: T;
    try {
      result = await fn({ signal: new AbortController().signal });
    } catch (err) {
      if (isMemberFailure(err)) {
        this.#pausedUntil = this.#clock.now() + HOST_PAUSE_MS;
        this.#lastFailure = err;
      }
      throw err;
    }
    this.#pausedUntil = 0; // it answered: no longer in doubt
    return result;
  }
}

/** A call not made: the member failed moments ago (the client tries the next; read like its own broken circuit). */
export class MemberPassedOver extends Error {
  readonly isBrokenCircuitError = true;
  /** The failure that paused the member. */
  readonly lastFailure: Error | undefined;

  constructor(lastFailure: Error | undefined) {
    super(`etcd member passed over after a failure${lastFailure ? `: ${lastFailure.message}` : ''}`);
    this.lastFailure = lastFailure;
  }
}

/** A failure that says the member is unreachable or not answering (not an answer of etcd's, nor a cancel of ours). */
export function isMemberFailure(err: unknown): err is Error {
  if (!(err instanceof Error) || isCancel(err)) return false;
  return isRecoverableError(err) || err instanceof GRPCDeadlineExceededError || /DEADLINE_EXCEEDED|Deadline exceeded/.test(err.message);
}

/** A call or stream cancelled on this side: etcd3's `GRPCCancelledError`, or grpc-js's status 1 CANCELLED. */
export function isCancel(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err instanceof GRPCCancelledError || (err as { code?: unknown }).code === 1 || /^1 CANCELLED\b/.test(err.message);
}
