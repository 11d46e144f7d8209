import type { ContainerSpec } from '../../../api/service.ts';

/**
 * The container fields a plain host process cannot honour: the exec driver has no mount
 * namespace (mounts), no capability bounding, no own hostname, /etc/hosts, root filesystem,
 * network namespace (sysctls) or init. Returns one phrase per field set, in spec order, so
 * `prepare` refuses the task with all of them at once instead of running it half-configured.
 */
export function unsupportedFields(c: ContainerSpec): string[] {
  const out: string[] = [];
  c.mounts.forEach((m, i) => out.push(`${m.type === 'bind' ? 'bind-mount a host path' : `mount a ${m.type}`} (mounts[${i}] at ${m.target})`));
  if (c.capAdd.length > 0) out.push(`add capabilities (capAdd ${c.capAdd.join(', ')})`);
  if (c.capDrop.length > 0) out.push(`drop capabilities (capDrop ${c.capDrop.join(', ')})`);
  if (c.hostname !== undefined) out.push('set a hostname (hostname)');
  if (c.extraHosts.length > 0) out.push('add /etc/hosts entries (extraHosts)');
  if (c.readOnly) out.push('make the root filesystem read-only (readOnly)');
  if (Object.keys(c.sysctls).length > 0) out.push(`set sysctls (${Object.keys(c.sysctls).join(', ')})`);
  if (Object.keys(c.ulimits).length > 0) out.push(`set ulimits (${Object.keys(c.ulimits).join(', ')})`);
  if (c.init) out.push('run an init process (init)');
  return out;
}
