/**
 * Time, injected. Core code never calls `Date.now()` or `setTimeout` directly: it takes a
 * `Clock`, so tests can drive time with `FakeClock` from `src/testing/fake-clock.ts`.
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Resolves after `ms` milliseconds, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The real clock: wall time and Node's timers. Timers do not keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    // setTimeout fires at once past 2^31-1 ms (~24.8 days): wait in steps up to that.
    const due = Date.now() + Math.max(0, ms);
    let t: NodeJS.Timeout;
    const arm = (): void => {
      const left = Math.max(0, due - Date.now());
      t = setTimeout(left > MAX_TIMEOUT_MS ? arm : fn, Math.min(left, MAX_TIMEOUT_MS));
      t.unref();
    };
    arm();
    return { cancel: () => clearTimeout(t) };
  },
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = (): void => {
        clearTimeout(t);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

/** ISO-8601 text of a clock reading, the form timestamps take in API objects. */
export function isoTime(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}
