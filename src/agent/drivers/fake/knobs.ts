import { DriverError, type HealthState } from '../driver.ts';
import { normalizeSignal } from '../signals.ts';

/**
 * How a fake task behaves, read from its `spec.container.env` (`KEY=VALUE` entries; the last
 * one of a key wins). Unknown `FAKE_*` keys are an error, so a typo does not silently run
 * the default behaviour.
 */
export interface FakeKnobs {
  /** `FAKE_RUN_MS`: exit on its own after this long; undefined = run until stopped. */
  readonly runMs: number | undefined;
  /** `FAKE_EXIT_CODE`: the code of that exit (default 0). */
  readonly exitCode: number;
  /** `FAKE_PREPARE_ERROR`: prepare fails with this message (code `image_not_found`). */
  readonly prepareError: string | undefined;
  /** `FAKE_PREPARE_MS`: prepare takes this long (default 0). */
  readonly prepareMs: number;
  /** `FAKE_START_ERROR`: start fails with this message (code `start_failed`). */
  readonly startError: string | undefined;
  /** `FAKE_IGNORE_STOP=1`: ignores the stop signal; only the kill after the grace period ends it. */
  readonly ignoreStop: boolean;
  /** `FAKE_STOP_MS`: takes this long to exit after the stop signal (default 0). */
  readonly stopMs: number;
  /** `FAKE_TRAP=SIGTERM=42,SIGUSR1=43`: exit codes for signals; others give 128 + signal number. */
  readonly trap: ReadonlyMap<string, number>;
  /** `FAKE_STDOUT` / `FAKE_STDERR`: lines written at start (separated by a newline or a literal `\n`). */
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** `FAKE_TICK_MS`: writes `tick-N` to stdout this often (default 0 = never). */
  readonly tickMs: number;
  /** `FAKE_TICKS`: exit 0 after this many ticks (default 0 = tick forever). */
  readonly ticks: number;
  /**
   * `FAKE_HEALTH=starting:2000,healthy:5000,unhealthy`: the health the driver reports, as
   * states each lasting N ms from the start (the last one lasts); undefined = no health check.
   */
  readonly health: readonly HealthStep[] | undefined;
}

/** One step of `FAKE_HEALTH`: a health state, for `ms` (undefined: from then on). */
export interface HealthStep {
  readonly status: HealthState;
  readonly ms: number | undefined;
}

const KNOWN = new Set([
  'FAKE_RUN_MS', 'FAKE_EXIT_CODE', 'FAKE_PREPARE_ERROR', 'FAKE_PREPARE_MS', 'FAKE_START_ERROR',
  'FAKE_IGNORE_STOP', 'FAKE_STOP_MS', 'FAKE_TRAP', 'FAKE_STDOUT', 'FAKE_STDERR', 'FAKE_TICK_MS', 'FAKE_TICKS',
  'FAKE_HEALTH',
]);

/** Reads the knobs from `KEY=VALUE` entries; throws `DriverError('invalid_spec')` on a bad value. */
export function parseKnobs(env: readonly string[]): FakeKnobs {
  const vars = new Map<string, string>();
  for (const entry of env) {
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    if (!key.startsWith('FAKE_')) continue;
    if (!KNOWN.has(key)) {
      throw new DriverError('invalid_spec', `env ${key}: unknown fake driver knob (known: ${[...KNOWN].join(', ')})`);
    }
    vars.set(key, eq < 0 ? '' : entry.slice(eq + 1));
  }
  const int = (key: string, min: number): number | undefined => {
    const raw = vars.get(key);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isInteger(n) || n < min) {
      throw new DriverError('invalid_spec', `env ${key}: expected an integer ≥ ${min}, got "${raw}"`);
    }
    return n;
  };
  const lines = (key: string): string[] => {
    const raw = vars.get(key);
    return raw === undefined || raw === '' ? [] : raw.split(/\n|\\n/);
  };
  return {
    runMs: int('FAKE_RUN_MS', 0),
    exitCode: int('FAKE_EXIT_CODE', 0) ?? 0,
    prepareError: vars.get('FAKE_PREPARE_ERROR'),
    prepareMs: int('FAKE_PREPARE_MS', 0) ?? 0,
    startError: vars.get('FAKE_START_ERROR'),
    ignoreStop: isTrue(vars.get('FAKE_IGNORE_STOP')),
    stopMs: int('FAKE_STOP_MS', 0) ?? 0,
    trap: parseTrap(vars.get('FAKE_TRAP')),
    stdout: lines('FAKE_STDOUT'),
    stderr: lines('FAKE_STDERR'),
    tickMs: int('FAKE_TICK_MS', 0) ?? 0,
    ticks: int('FAKE_TICKS', 0) ?? 0,
    health: parseHealth(vars.get('FAKE_HEALTH')),
  };
}

function isTrue(raw: string | undefined): boolean {
  return raw !== undefined && /^(1|true|yes|on)$/i.test(raw.trim());
}

function parseTrap(raw: string | undefined): Map<string, number> {
  const trap = new Map<string, number>();
  if (raw === undefined || raw.trim() === '') return trap;
  for (const part of raw.split(',')) {
    const m = /^\s*([A-Za-z0-9]+)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m?.[1] || !m[2]) {
      throw new DriverError('invalid_spec', `env FAKE_TRAP: expected SIGNAL=CODE[,SIGNAL=CODE…], got "${raw}"`);
    }
    trap.set(normalizeSignal(m[1]), Number(m[2]));
  }
  return trap;
}

const HEALTH_STATES: ReadonlySet<string> = new Set(['starting', 'healthy', 'unhealthy']);

function parseHealth(raw: string | undefined): HealthStep[] | undefined {
  if (raw === undefined || raw.trim() === '') return undefined;
  const parts = raw.split(',');
  return parts.map((part, i) => {
    const m = /^\s*([a-z]+)\s*(?::\s*(\d+)\s*)?$/.exec(part);
    const status = m?.[1];
    const last = i === parts.length - 1;
    if (!m || status === undefined || !HEALTH_STATES.has(status) || (!last && m[2] === undefined)) {
      throw new DriverError(
        'invalid_spec',
        `env FAKE_HEALTH: expected STATE:MS[,STATE:MS…],STATE with states starting|healthy|unhealthy, got "${raw}"`,
      );
    }
    return { status: status as HealthState, ms: m[2] === undefined ? undefined : Number(m[2]) };
  });
}

/** The health `steps` give `elapsedMs` after the start. */
export function healthAt(steps: readonly HealthStep[], elapsedMs: number): HealthState {
  let end = 0;
  for (const step of steps) {
    if (step.ms === undefined) return step.status;
    end += step.ms;
    if (elapsedMs < end) return step.status;
  }
  return steps.at(-1)?.status ?? 'healthy';
}
