import { run } from './proc.ts';

/**
 * The test bed's network: a "switch" namespace holding a Linux bridge, and one namespace per
 * host (the manager's included) joined to it by a veth pair, each with its own IP in a
 * private /24. One extra veth ("probe") puts the test process's own namespace on the bridge
 * too, so tests can open TLS connections to the manager like any remote client.
 *
 * Names: every namespace and interface starts with the bed's prefix (`flt-t` …), so leftovers
 * of a crashed run can be found and removed. Interface names stay under Linux's 15 characters.
 */
export interface NetNames {
  /** The switch namespace (bridge `br0` inside). */
  readonly switchNs: string;
  /** A host's namespace. */
  hostNs(host: string): string;
  /** A host's veth end on the switch (in the switch namespace): down = link cut. */
  switchPort(host: string): string;
  /** The test process's own end of the probe link (in the root namespace). */
  readonly probeIf: string;
}

/** The names a bed with `prefix` uses. */
export function netNames(prefix: string): NetNames {
  return {
    switchNs: `${prefix}-sw`,
    hostNs: (host) => `${prefix}-${host}`,
    switchPort: (host) => `${prefix}-${host}`,
    probeIf: `${prefix}-probe`,
  };
}

/** The path `nsenter --net=` takes for a namespace made by `ip netns add`. */
export function netnsPath(ns: string): string {
  return `/run/netns/${ns}`;
}

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** Creates the switch namespace and its bridge. */
export async function createSwitch(names: NetNames): Promise<void> {
  const sw = names.switchNs;
  await ip('netns', 'add', sw);
  await ip('-n', sw, 'link', 'set', 'lo', 'up');
  await ip('-n', sw, 'link', 'add', 'br0', 'type', 'bridge');
  await ip('-n', sw, 'link', 'set', 'br0', 'up');
  // A fresh namespace's FORWARD policy is ACCEPT, but with br_netfilter loaded bridged frames
  // traverse iptables: accept them explicitly in case something changed the policy.
  await run('nsenter', [`--net=${netnsPath(sw)}`, 'iptables', '-I', 'FORWARD', '-i', 'br0', '-j', 'ACCEPT'], { allowFail: true });
}

/**
 * Creates a host's namespace, wired to the switch, with `address` (CIDR, `10.199.0.11/24`) on
 * its `eth0`.
 */
export async function addHost(names: NetNames, host: string, address: string): Promise<void> {
  const ns = names.hostNs(host);
  const port = names.switchPort(host);
  const tmp = `${port}-n`;
  await ip('netns', 'add', ns);
  await ip('-n', ns, 'link', 'set', 'lo', 'up');
  await ip('link', 'add', port, 'netns', names.switchNs, 'type', 'veth', 'peer', 'name', tmp, 'netns', ns);
  await ip('-n', names.switchNs, 'link', 'set', port, 'master', 'br0');
  await ip('-n', names.switchNs, 'link', 'set', port, 'up');
  await ip('-n', ns, 'link', 'set', tmp, 'name', 'eth0');
  await ip('-n', ns, 'addr', 'add', address, 'dev', 'eth0');
  await ip('-n', ns, 'link', 'set', 'eth0', 'up');
}

/** Puts the root namespace on the bridge with `address` (CIDR). */
export async function addProbe(names: NetNames, address: string): Promise<void> {
  const port = `${names.probeIf}-s`;
  await ip('link', 'add', names.probeIf, 'type', 'veth', 'peer', 'name', port, 'netns', names.switchNs);
  await ip('-n', names.switchNs, 'link', 'set', port, 'master', 'br0');
  await ip('-n', names.switchNs, 'link', 'set', port, 'up');
  await ip('addr', 'add', address, 'dev', names.probeIf);
  await ip('link', 'set', names.probeIf, 'up');
}

/** Cuts (`up = false`) or restores a host's link: its port on the switch goes down or up. */
export async function setLink(names: NetNames, host: string, up: boolean): Promise<void> {
  await ip('-n', names.switchNs, 'link', 'set', names.switchPort(host), up ? 'up' : 'down');
}

/** Network namespaces whose name starts with `prefix-`. */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'], { allowFail: true });
  return stdout
    .split('\n')
    .map((l) => l.split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Pids of the processes inside a namespace. */
export async function pidsIn(ns: string): Promise<number[]> {
  const { stdout } = await run('ip', ['netns', 'pids', ns], { allowFail: true });
  return stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/** Deletes a namespace (its veths go with it) and the probe link, ignoring what is gone. */
export async function deleteNamespace(ns: string): Promise<void> {
  await run('ip', ['netns', 'delete', ns], { allowFail: true });
}

/** Deletes the root namespace's probe link if it is there. */
export async function deleteProbe(names: NetNames): Promise<void> {
  await run('ip', ['link', 'delete', names.probeIf], { allowFail: true });
}

/** Whether this machine can build a bed: root, and `ip netns` and `nsenter` work. */
export async function netnsUnavailableReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'the multi-host test bed needs root (network namespaces, dockerd)';
  for (const [cmd, args] of [
    ['ip', ['netns', 'list']],
    ['nsenter', ['--version']],
    ['unshare', ['--version']],
    ['dockerd', ['--version']],
    ['docker', ['--version']],
  ] as const) {
    const r = await run(cmd, args, { allowFail: true }).catch((e: unknown) => ({ code: 127, stdout: '', stderr: String(e) }));
    if (r.code !== 0) return `\`${cmd} ${args.join(' ')}\` does not work here: ${r.stderr.trim() || `exit ${r.code}`}`;
  }
  return undefined;
}
