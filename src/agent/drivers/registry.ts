import type { Clock } from '../../lib/clock.ts';
import type { Driver, Fingerprint } from './driver.ts';
import { DockerDriver } from './docker/docker-driver.ts';
import { ExecDriver } from './exec/exec-driver.ts';
import { FakeDriver } from './fake/fake-driver.ts';
import type { FakeHost } from './fake/fake-host.ts';

/** A driver's name: what `spec.taskTemplate.driver` says. */
export type DriverName = Driver['name'];

/** Options of `createDrivers`. */
export interface CreateDriversOptions {
  readonly nodeId: string;
  /** The agent's state directory (the exec driver keeps its tasks in `<dataDir>/exec`). */
  readonly dataDir: string;
  readonly clock: Clock;
  /** Docker engine address, like `DOCKER_HOST`; default `DOCKER_HOST`, else the local socket. */
  readonly dockerHost?: string;
  /**
   * The simulated machine of the fake driver. The `fake` driver is created only when this is
   * given (or `fake` is listed in `only`), so real nodes do not offer it by accident.
   */
  readonly fakeHost?: FakeHost;
  /** Create only these drivers. Default: docker and exec, plus fake when `fakeHost` is given. */
  readonly only?: readonly DriverName[];
}

/**
 * The drivers an agent offers, by name. Creating a driver does no I/O; `fingerprintDrivers`
 * tells which of them can actually run tasks on this node.
 */
export function createDrivers(options: CreateDriversOptions): Map<DriverName, Driver> {
  const wanted = new Set<DriverName>(options.only ?? ['docker', 'exec', ...(options.fakeHost ? (['fake'] as const) : [])]);
  const drivers = new Map<DriverName, Driver>();
  const { nodeId, clock } = options;
  if (wanted.has('docker')) {
    drivers.set('docker', new DockerDriver({ nodeId, clock, ...(options.dockerHost === undefined ? {} : { dockerHost: options.dockerHost }) }));
  }
  if (wanted.has('exec')) drivers.set('exec', new ExecDriver({ nodeId, clock, dataDir: options.dataDir }));
  if (wanted.has('fake')) {
    drivers.set('fake', new FakeDriver({ nodeId, clock, ...(options.fakeHost === undefined ? {} : { host: options.fakeHost }) }));
  }
  return drivers;
}

/**
 * Every driver's fingerprint, in parallel, never throwing: a driver whose fingerprint fails or
 * takes longer than `timeoutMs` (default 10 s) is reported unavailable with the reason. The
 * agent puts the result in its node description (`drivers`, engine version).
 */
export async function fingerprintDrivers(
  drivers: ReadonlyMap<DriverName, Driver>,
  clock: Clock,
  timeoutMs = 10_000,
): Promise<Map<DriverName, Fingerprint>> {
  const entries = await Promise.all(
    [...drivers].map(async ([name, driver]): Promise<[DriverName, Fingerprint]> => {
      let timer: { cancel(): void } | undefined;
      const timeout = new Promise<Fingerprint>((resolve) => {
        timer = clock.setTimer(timeoutMs, () => resolve({ available: false, reason: `${name} driver: fingerprint took over ${timeoutMs}ms` }));
      });
      try {
        return [name, await Promise.race([driver.fingerprint(), timeout])];
      } catch (e) {
        return [name, { available: false, reason: `${name} driver: ${(e as Error).message}` }];
      } finally {
        timer?.cancel();
      }
    }),
  );
  return new Map(entries);
}

/** Names of the drivers whose fingerprint says they can run tasks here. */
export function availableDrivers(fingerprints: ReadonlyMap<DriverName, Fingerprint>): DriverName[] {
  return [...fingerprints].filter(([, fp]) => fp.available).map(([name]) => name);
}
