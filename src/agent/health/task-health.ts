import type { Healthcheck } from '../../api/service.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Driver, HealthState } from '../drivers/driver.ts';
import { DriverHealthPoller } from './driver-poller.ts';
import { HealthMonitor, type HealthListener, type Probe } from './monitor.ts';
import { commandProbe, httpProbe, tcpProbe, testArgv, type AddressOf } from './probes.ts';

/** Where a task's health comes from. */
export type HealthSource =
  /** No health check: `test: ["NONE"]`, or none in the spec and none the driver knows of. */
  | 'none'
  /** The driver judges it (docker HEALTHCHECK, fake `FAKE_HEALTH`); the agent polls. */
  | 'driver'
  /** The agent probes: HTTP GET, TCP connect, or a `test` command through `driver.execIn`. */
  | 'http'
  | 'tcp'
  | 'command';

/**
 * Pure: which mechanism checks a task's health, from its spec and what its driver can do.
 * A spec `test` goes to a driver that runs checks itself, else through `execIn`; `http` and
 * `tcp` are always the agent's; with no spec check, the driver may know one (the image's).
 */
export function healthSource(check: Healthcheck | undefined, driver: Pick<Driver, 'health' | 'execIn'>): HealthSource {
  if (check?.http) return 'http';
  if (check?.tcp) return 'tcp';
  if (check?.test) {
    if (check.test[0] === 'NONE') return 'none';
    if (driver.health) return 'driver';
    return driver.execIn && testArgv(check.test) ? 'command' : 'none';
  }
  return driver.health ? 'driver' : 'none';
}

export interface TaskHealthDeps {
  readonly driver: Driver;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How often a driver-judged health is polled at most. Default 1 s (less when the spec's interval is shorter). */
  readonly pollMs?: number;
  /** Told the outcome of each probe of an agent-side check (the agent's `/metrics`). */
  readonly onProbe?: (kind: 'http' | 'tcp' | 'command', ok: boolean) => void;
}

/** A running health watch; `stop()` is idempotent and silences it. */
export interface HealthWatch {
  stop(): void;
}

/** The task fields a health watch needs. */
export interface HealthTask {
  readonly id: string;
  readonly check: Healthcheck | undefined;
  /** The last health reported for the task (adoption after an agent restart keeps it). */
  readonly health?: HealthState | undefined;
}

/** Default ceiling on how often a driver-judged health is polled. */
export const DEFAULT_HEALTH_POLL_MS = 1_000;

/**
 * Starts watching a running task's health; the listener hears the health now (or at the
 * first answer, for a driver-judged one) and each change. Undefined when the task has no
 * health check.
 */
export function watchHealth(deps: TaskHealthDeps, task: HealthTask, listener: HealthListener): HealthWatch | undefined {
  const { driver, clock, logger } = deps;
  const check = task.check;
  const source = healthSource(check, driver);
  if (source === 'none') return undefined;
  if (source === 'driver') {
    const pollMs = Math.max(10, Math.min(deps.pollMs ?? DEFAULT_HEALTH_POLL_MS, check?.intervalMs ?? Infinity));
    const poller = new DriverHealthPoller({ driver, clock, logger }, task.id, pollMs, listener);
    poller.start();
    return poller;
  }
  if (!check) return undefined;
  const inner = agentProbe(source, check, driver, task.id);
  if (!inner) return undefined;
  const onProbe = deps.onProbe;
  const probe: Probe = onProbe
    ? async (signal) => {
        const r = await inner(signal);
        onProbe(source, r.ok);
        return r;
      }
    : inner;
  const monitor = new HealthMonitor({ clock }, check, probe, listener, task.health);
  monitor.start();
  return monitor;
}

function agentProbe(source: HealthSource, check: Healthcheck, driver: Driver, taskId: string): Probe | undefined {
  const addressOf = taskAddress(driver, taskId);
  if (source === 'http' && check.http) return httpProbe(check.http, addressOf);
  if (source === 'tcp' && check.tcp) return tcpProbe(check.tcp, addressOf);
  const argv = check.test && testArgv(check.test);
  if (source === 'command' && argv) return commandProbe(driver, taskId, argv, check.timeoutMs);
  return undefined;
}

/** The task's address from `driver.inspect`, looked up once it is known; 127.0.0.1 without one. */
function taskAddress(driver: Driver, taskId: string): AddressOf {
  let known: string | undefined;
  return async () => {
    if (known !== undefined) return known;
    const info = await driver.inspect(taskId);
    const address = info?.address ?? '127.0.0.1';
    if (info) known = address;
    return address;
  };
}
