/**
 * Re-checks `condition` until it returns true or `timeoutMs` passes, then throws naming what
 * was awaited (and the last thing `condition` returned as a string, when it gave one). A
 * condition that throws fails at once. Returns the milliseconds it took.
 *
 * `condition` may return a string instead of `false` to say what it saw ("4 of 6 running"):
 * that goes into the timeout message.
 */
export async function waitFor(
  condition: () => Promise<boolean | string> | boolean | string,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<number> {
  const start = performance.now();
  let last = '';
  for (;;) {
    const r = await condition();
    if (r === true) return performance.now() - start;
    if (typeof r === 'string') last = r;
    if (performance.now() - start > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last seen: ${last})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
