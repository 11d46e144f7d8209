import type { CliIo } from './context.ts';
import { UsageError } from './parse.ts';

/**
 * Runs a foreground command (`server`, `join`) until SIGINT/SIGTERM, or `io.signal` in
 * tests, aborts the signal it is given. A second signal exits at once.
 */
export async function abortOnSignals(io: CliIo, run: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  let signals = 0;
  const onSignal = (): void => {
    signals++;
    if (signals > 1) process.exit(130);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await run(io.signal ?? ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Resolves (with undefined) once `signal` is aborted. */
export function untilAborted(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
}

/**
 * Waits for a node agent being built, turning the agent's "this driver cannot run here" into
 * the CLI's `UsageError` (the `--driver` flag asked for something this host cannot do).
 */
export async function agentUsageErrors<T>(building: Promise<T>): Promise<T> {
  try {
    return await building;
  } catch (err) {
    // Imported here: the drivers it lives beside are loaded by then, and only then (see main.ts).
    const { isDriverChoiceError } = await import('../agent/driver-choice.ts');
    if (isDriverChoiceError(err)) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}
