import { runCommand } from '../agent/network/runner.ts';

/**
 * Helpers of the root-only tests that build throwaway network namespaces on the real kernel
 * (`data-plane.kernel.test.ts`, `exec-driver.network.test.ts`).
 */

/** Runs a command; its stdout, or an error naming the command and its stderr. */
export async function sh(argv: readonly string[], stdin?: string): Promise<string> {
  const r = await runCommand(argv, stdin);
  if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Polls `probe` until it returns a value (not undefined) or `timeoutMs` passes (a bound that
 * only catches hangs); the last failure is the error.
 */
export async function pollFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
