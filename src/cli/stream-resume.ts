import { isClientError } from '../client/client.ts';
import { Backoff } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';

/*
 * Taking an event stream up again on another manager (a context with several managers): the
 * store's revisions are the same on every manager, so a stream resumes with `?since=<last
 * revision seen>`. Used by `flotilla events` and by the waits of `service create|update|…`.
 */

/** Tries in a row to take a broken stream up again (with `resumeBackoff`, about half a minute) before giving up. */
export const MAX_RESUME_ATTEMPTS = 8;

/**
 * Whether an error ends a stream for a reason another manager could fix: a connection lost, or
 * no manager answering (`unreachable`, `unavailable`). An answer of the API (an `event: error`
 * frame such as a compacted revision, a refused credential) is final.
 */
export function streamBroke(err: unknown): boolean {
  return !isClientError(err) || err.code === 'unreachable' || err.code === 'unavailable';
}

/** The pause between attempts: 250 ms doubling to 5 s, half of it jittered. */
export function resumeBackoff(): Backoff {
  return new Backoff({ initialMs: 250, maxMs: 5_000, jitter: 0.5 });
}

/** Waits `ms`, or less when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal, setTimer: Clock['setTimer']): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => {
      t.cancel();
      resolve();
    };
    const t = setTimer(ms, () => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
