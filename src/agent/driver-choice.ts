import type { Clock } from '../lib/clock.ts';
import { CodedError, errorGuard } from '../lib/coded-error.ts';
import type { Driver } from './drivers/driver.ts';
import type { FakeHost } from './drivers/fake/fake-host.ts';
import { createDrivers, fingerprintDrivers, type DriverName } from './drivers/registry.ts';

/** Which drivers a node agent runs. */
export type DriverSource =
  /**
   * A real node: `forced` (`--driver`) if given, else docker when an engine answers at
   * `dockerHost` (default the local socket), with exec beside it when exec can run here; else exec.
   */
  | { readonly kind: 'detect'; readonly forced?: 'docker' | 'exec' | undefined; readonly dockerHost?: string | undefined }
  /** A simulated node: the fake driver on this simulated machine. */
  | { readonly kind: 'fake'; readonly host: FakeHost };

export type DriverChoiceErrorCode = 'unavailable' | 'none';

/** No driver can run tasks here, or not the one asked for (a usage error for the CLI). */
export class DriverChoiceError extends CodedError<DriverChoiceErrorCode> {
  override readonly name = 'DriverChoiceError';
}

export const isDriverChoiceError = errorGuard(DriverChoiceError);

/** The chosen drivers, and one line saying what was chosen and why ("driver: docker (Docker 20.10.24 answers)"). */
export interface DriverChoice {
  readonly drivers: Driver[];
  readonly line: string;
}

/**
 * Picks the node's drivers (see `DriverSource`). Drivers not chosen are closed. Throws a
 * `DriverChoiceError` when the forced driver cannot run here, or none can.
 */
export async function chooseDrivers(source: DriverSource, nodeId: string, dataDir: string, clock: Clock): Promise<DriverChoice> {
  if (source.kind === 'fake') {
    const drivers = [...createDrivers({ nodeId, dataDir, clock, fakeHost: source.host, only: ['fake'] }).values()];
    return { drivers, line: 'driver: fake' };
  }
  const { forced, dockerHost } = source;
  const all = createDrivers({ nodeId, dataDir, clock, ...(dockerHost ? { dockerHost } : {}), ...(forced ? { only: [forced] } : {}) });
  const fps = await fingerprintDrivers(all, clock, 5_000);
  const pick = (names: DriverName[]): Driver[] => names.flatMap((n) => (all.get(n) ? [all.get(n)!] : []));
  const closeOthers = async (keep: Driver[]): Promise<void> => {
    await Promise.all([...all.values()].filter((d) => !keep.includes(d)).map((d) => d.close()));
  };
  const docker = fps.get('docker');
  const exec = fps.get('exec');
  const engine = docker?.engine ? `${docker.engine.name} ${docker.engine.version}` : 'Docker';
  if (forced) {
    const fp = fps.get(forced);
    if (!fp?.available) {
      await closeOthers([]);
      throw new DriverChoiceError('unavailable', `the ${forced} driver cannot run here: ${fp?.reason ?? 'unknown reason'}`);
    }
    return { drivers: pick([forced]), line: `driver: ${forced}${forced === 'docker' ? ` (${engine})` : ''}, as asked` };
  }
  if (docker?.available) {
    const names: DriverName[] = exec?.available ? ['docker', 'exec'] : ['docker'];
    const drivers = pick(names);
    await closeOthers(drivers);
    return { drivers, line: `driver: docker (${engine} answers)${exec?.available ? '; exec also available' : ''}` };
  }
  if (exec?.available) {
    const drivers = pick(['exec']);
    await closeOthers(drivers);
    return { drivers, line: `driver: exec (no Docker engine: ${docker?.reason ?? 'not found'})` };
  }
  await closeOthers([]);
  throw new DriverChoiceError('none', `no driver can run tasks here: docker: ${docker?.reason ?? '?'}; exec: ${exec?.reason ?? '?'}`);
}
