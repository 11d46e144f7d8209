import type { HostConfig, MountSettings } from 'dockerode';
import type { ContainerSpec, Mount, Ulimit } from '../../../api/service.ts';
import { DriverError } from '../driver.ts';

/**
 * Pure translation of a container spec's runtime options — mounts, init, capabilities, extra
 * hosts, read-only root, sysctls, ulimits — into Docker Engine API `HostConfig` fields. Only
 * fields the spec sets appear, so a plain spec keeps the engine's defaults. No I/O.
 */

/** A named volume that must exist on the node before the container is created. */
export interface VolumeToCreate {
  readonly name: string;
  /** Default `local`. */
  readonly driver: string;
  readonly labels: Record<string, string>;
}

/** Resource limits Linux (and so Docker) knows, for a clear error before the engine's late one. */
const ULIMIT_NAMES = new Set([
  'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack',
]);

/** Docker's `HostConfig.Mounts` for the spec's mounts. */
export function dockerMounts(mounts: readonly Mount[]): MountSettings[] {
  return mounts.map((m, i) => {
    const where = `mounts[${i}] (${m.type} at ${m.target})`;
    switch (m.type) {
      case 'volume':
        // An empty Source is an anonymous volume, removed with the container.
        return { Type: 'volume', Source: m.source ?? '', Target: m.target, ReadOnly: m.readOnly };
      case 'bind':
        if (m.source === undefined || !m.source.startsWith('/')) {
          throw new DriverError('invalid_spec', `${where}: a bind mount needs an absolute host path as source, got ${JSON.stringify(m.source ?? '')}`);
        }
        return { Type: 'bind', Source: m.source, Target: m.target, ReadOnly: m.readOnly };
      case 'tmpfs': {
        // The engine reads 0 as "its default" for both (no size limit, mode 1777).
        const sized = m.tmpfsSizeBytes !== undefined || m.tmpfsMode !== undefined;
        const opts = { SizeBytes: m.tmpfsSizeBytes ?? 0, Mode: m.tmpfsMode ?? 0 };
        return { Type: 'tmpfs', Source: '', Target: m.target, ReadOnly: m.readOnly, ...(sized ? { TmpfsOptions: opts } : {}) };
      }
    }
  });
}

/** The named volumes the spec mounts (anonymous ones are the engine's business), once each. */
export function volumesToCreate(mounts: readonly Mount[]): VolumeToCreate[] {
  const out = new Map<string, VolumeToCreate>();
  for (const m of mounts) {
    if (m.type !== 'volume' || m.source === undefined || out.has(m.source)) continue;
    out.set(m.source, { name: m.source, driver: m.volumeDriver ?? 'local', labels: { ...m.volumeLabels } });
  }
  return [...out.values()];
}

/**
 * `HostConfig` fields for init, capabilities, extra hosts, read-only root, sysctls, ulimits and
 * mounts. Throws `invalid_spec` for an extra host that is not `HOST:IP` or an unknown ulimit.
 */
export function runtimeHostConfig(c: ContainerSpec): HostConfig {
  const hc: HostConfig = {};
  if (c.mounts.length > 0) hc.Mounts = dockerMounts(c.mounts);
  if (c.capAdd.length > 0) hc.CapAdd = [...c.capAdd];
  if (c.capDrop.length > 0) hc.CapDrop = [...c.capDrop];
  if (c.extraHosts.length > 0) {
    c.extraHosts.forEach((h, i) => {
      if (!/^[^:\s]+:\S+$/.test(h)) throw new DriverError('invalid_spec', `extraHosts[${i}]: expected HOST:IP, got ${JSON.stringify(h)}`);
    });
    hc.ExtraHosts = [...c.extraHosts];
  }
  if (c.readOnly) hc.ReadonlyRootfs = true;
  if (Object.keys(c.sysctls).length > 0) hc.Sysctls = { ...c.sysctls };
  const ulimits = Object.entries(c.ulimits as Record<string, Ulimit>);
  if (ulimits.length > 0) {
    hc.Ulimits = ulimits.map(([name, u]) => {
      if (!ULIMIT_NAMES.has(name)) {
        throw new DriverError('invalid_spec', `ulimits.${name}: unknown resource limit (expected one of ${[...ULIMIT_NAMES].join(', ')})`);
      }
      if (u.soft > u.hard && u.hard !== -1) throw new DriverError('invalid_spec', `ulimits.${name}: soft limit ${u.soft} is above the hard limit ${u.hard}`);
      return { Name: name, Soft: u.soft, Hard: u.hard };
    });
  }
  return hc;
}
