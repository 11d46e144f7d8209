/**
 * The first `n` items a subscription delivers, then it is closed; fails (closing it) when the
 * subscription reports an error, or after `timeoutMs` — a bound that only catches a hang.
 * `subscribe(onItem, onError)` opens it (a backend watch, `store.changesSince`, …).
 */
export function collectFirst<T>(
  n: number,
  subscribe: (onItem: (item: T) => void, onError: (err: unknown) => void) => { close(): void },
  what = 'items',
  timeoutMs = 20_000,
): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const got: T[] = [];
    const timer = setTimeout(() => {
      h.close();
      reject(new Error(`timed out with ${got.length} of ${n} ${what}: ${JSON.stringify(got).slice(0, 2_000)}`));
    }, timeoutMs);
    const h = subscribe(
      (item) => {
        got.push(item);
        if (got.length === n) {
          clearTimeout(timer);
          h.close();
          resolve(got);
        }
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
