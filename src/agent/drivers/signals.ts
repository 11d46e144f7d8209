import { constants } from 'node:os';
import { DriverError } from './driver.ts';

/**
 * Signal names as task specs write them ("SIGTERM", "TERM", "sigusr1", "15") turned into the one
 * form drivers use ("SIGTERM"), and their numbers on this platform.
 */
const SIGNALS = constants.signals as Readonly<Record<string, number>>;

/** The canonical name of a signal ("TERM" → "SIGTERM"); throws `invalid_spec` for unknown ones. */
export function normalizeSignal(name: string): NodeJS.Signals {
  const trimmed = name.trim().toUpperCase();
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    const found = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (found) return found as NodeJS.Signals;
  } else {
    const full = trimmed.startsWith('SIG') ? trimmed : `SIG${trimmed}`;
    if (SIGNALS[full] !== undefined) return full as NodeJS.Signals;
  }
  throw new DriverError('invalid_spec', `unknown signal "${name}" (valid: SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, …)`);
}

/** The signal's number ("SIGKILL" → 9). */
export function signalNumber(name: string): number {
  return SIGNALS[normalizeSignal(name)] ?? 0;
}

/** The exit code a shell reports for a process killed by `name`: 128 + its number. */
export function killedExitCode(name: string): number {
  return 128 + signalNumber(name);
}
