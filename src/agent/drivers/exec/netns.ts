import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, rm, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { TaskAddress } from '../../../api/network.ts';
import type { CommandRunner } from '../../network/runner.ts';
import type { DriverNetwork } from '../driver.ts';
import { CodedError } from '../../../lib/coded-error.ts';

/**
 * Network namespaces of exec tasks on networks (design note §3.5). A task's namespace is pinned
 * by a bind mount of its nsfs file at `<task dir>/netns` (under the agent's data dir, so two
 * agents of one host never collide, as they would in `/run/netns`). It holds `lo` and one veth
 * end per network (`eth0`, `eth1`, … in the task's order) with the task's address and the
 * network's MTU, and a default route via the primary network's gateway. The host ends
 * (`flv<hash8><n>`) are ports of the networks' bridges with hairpin on. Everything host-side
 * goes through a `CommandRunner` (the agent's own namespace, or a test's); the inside through
 * `nsenter --net=<file>`, which needs no `/run/netns`.
 */

/** The util-linux and iproute2 programs this needs, as absolute paths. */
export interface NetnsTools {
  readonly ip: string;
  readonly nsenter: string;
  readonly unshare: string;
  readonly mount: string;
  readonly umount: string;
  readonly setpriv: string;
}

/** One network of a task as the exec driver records it (task.json). */
export interface NetLink {
  readonly networkId: string;
  /** The task's address with the prefix length (`10.0.3.2/16`). */
  readonly address: string;
  readonly ip: string;
  readonly gateway: string;
  /** The host end of the veth, on the network's bridge. */
  readonly veth: string;
  /** The task's end, inside the namespace: `eth<i>`. */
  readonly ifname: string;
  readonly ingress?: boolean;
}

/** A task's network namespace and its links (task.json `net`). */
export interface TaskNet {
  /** The pinned nsfs file. */
  readonly netns: string;
  readonly links: readonly NetLink[];
  /** The host file bound over the task's `/etc/resolv.conf`; absent: the host's. */
  readonly resolvConf?: string;
}

/** Thrown when the kernel refuses to make or remove a task's namespace. */
export class NetnsError extends CodedError<'netns_failed'> {
  override readonly name = 'NetnsError';
  constructor(message: string) {
    super('netns_failed', message);
  }
}

/** Where the tools are looked up, besides the agent's PATH. */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The tools, or why this host cannot give exec tasks a namespace (not root, a tool missing).
 * Paths are absolute so that the task's own PATH never picks them.
 */
export async function findNetnsTools(): Promise<NetnsTools | string> {
  if (process.platform !== 'linux') return `network namespaces need Linux, this is ${process.platform}`;
  if (process.getuid?.() !== 0) return 'the agent does not run as root (network namespaces, veths and mounts need it)';
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), ...SYSTEM_PATH.split(delimiter)].filter((d) => d !== '');
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of ['ip', 'nsenter', 'unshare', 'mount', 'umount', 'setpriv']) {
    let path: string | undefined;
    for (const d of dirs) {
      try {
        await access(join(d, name), constants.X_OK);
        path = join(d, name);
        break;
      } catch {
        // next directory
      }
    }
    if (path === undefined) missing.push(name);
    else found[name] = path;
  }
  if (missing.length > 0) return `${missing.join(', ')} not found (iproute2 and util-linux are needed)`;
  return found as unknown as NetnsTools;
}

/** The host end of a task's veth on its `index`th network: `flv` + 8 hex of the task id's hash + index (≤ 15 characters). */
export function vethName(taskId: string, index: number): string {
  return `flv${createHash('sha256').update(taskId).digest('hex').slice(0, 8)}${index}`;
}

/** The network that carries the default route and DNS: the first that is not the routing mesh's. */
export function primaryLink<T extends { readonly ingress?: boolean }>(links: readonly T[]): T | undefined {
  return links.find((l) => l.ingress !== true);
}

/** What the exec driver records of a task's networks (no kernel work). */
export function planTaskNet(taskId: string, netns: string, networks: readonly DriverNetwork[], resolvConf: string | undefined): TaskNet {
  return {
    netns,
    links: networks.map((n, i) => ({
      networkId: n.networkId,
      address: n.address,
      ip: n.ip,
      gateway: n.gateway,
      veth: vethName(taskId, i),
      ifname: `eth${i}`,
      ...(n.ingress === true ? { ingress: true } : {}),
    })),
    ...(resolvConf === undefined ? {} : { resolvConf }),
  };
}

/**
 * Makes the namespace and its links: three spawns (`unshare --net=<file>` with `lo` up, one
 * host-side `ip -batch` for the veths, one inside for addresses and the route). A task only on
 * the routing mesh's network gets its default route there (it has no other way out). On
 * failure what was made is removed.
 */
export async function createTaskNet(runner: CommandRunner, tools: NetnsTools, net: TaskNet, networks: readonly DriverNetwork[]): Promise<void> {
  // The mount point must exist; an empty file.
  await (await open(net.netns, 'a', 0o600)).close();
  try {
    await must(runner, [tools.unshare, `--net=${net.netns}`, tools.ip, 'link', 'set', 'dev', 'lo', 'up'], undefined, 'create the network namespace');
    const host: string[] = [];
    const inside: string[] = [];
    net.links.forEach((l, i) => {
      const n = networks[i]!;
      host.push(
        `link add ${l.veth} mtu ${n.mtu} type veth peer name ${l.ifname} mtu ${n.mtu} netns ${net.netns}`,
        `link set dev ${l.veth} master ${n.bridge}`,
        `link set dev ${l.veth} type bridge_slave hairpin on`,
        `link set dev ${l.veth} up`,
      );
      inside.push(`address add ${l.address} dev ${l.ifname}`, `link set dev ${l.ifname} up`);
    });
    const route = primaryLink(net.links) ?? net.links[0];
    if (route !== undefined) inside.push(`route add default via ${route.gateway} dev ${route.ifname}`);
    await must(runner, [tools.ip, '-batch', '-'], `${host.join('\n')}\n`, `attach to ${networks.map((n) => n.bridge).join(', ')}`);
    await must(runner, [tools.nsenter, `--net=${net.netns}`, tools.ip, '-batch', '-'], `${inside.join('\n')}\n`, 'configure the namespace');
  } catch (err) {
    await removeTaskNet(runner, tools, net).catch(() => {});
    throw err;
  }
}

/**
 * Removes the host ends of the veths (their peers go with them, even if a stray process keeps
 * the namespace alive) and unpins the namespace; the file itself is removed with the task dir.
 * Idempotent: missing links and an unmounted file are fine. One or two spawns.
 */
export async function removeTaskNet(runner: CommandRunner, tools: NetnsTools, net: TaskNet): Promise<void> {
  if (net.links.length > 0) {
    // -force: go on past links that are gone; the errors are only those.
    const r = await runner.run([tools.ip, '-force', '-batch', '-'], net.links.map((l) => `link del dev ${l.veth}`).join('\n') + '\n');
    const other = r.stderr.split('\n').filter((line) => line.trim() !== '' && !/Cannot find device|does not exist|Command failed/.test(line));
    if (r.code !== 0 && other.length > 0) throw new NetnsError(`cannot remove the task's veths: ${other.join('; ')}`);
  }
  if (!(await exists(net.netns))) return;
  const u = await runner.run([tools.umount, net.netns]);
  if (u.code !== 0 && !/not mounted|no mount point/.test(u.stderr)) {
    throw new NetnsError(`cannot unpin the task's network namespace ${net.netns}: ${u.stderr.trim() || `exit code ${u.code}`}`);
  }
  await rm(net.netns, { force: true });
}

/** `ip -j addr` output, the fields used here. */
interface IpAddr {
  readonly ifname: string;
  readonly addr_info?: ReadonlyArray<{ readonly family?: string; readonly local?: string; readonly prefixlen?: number }>;
}

/**
 * The task's addresses as its namespace holds them (one spawn), for the links of `net`; a link
 * with no IPv4 address there is left out. Undefined when the namespace cannot be read (gone).
 */
export async function readTaskAddresses(runner: CommandRunner, tools: NetnsTools, net: TaskNet): Promise<TaskAddress[] | undefined> {
  const r = await runner.run([tools.nsenter, `--net=${net.netns}`, tools.ip, '-j', '-4', 'addr', 'show']);
  if (r.code !== 0) return undefined;
  let shown: IpAddr[];
  try {
    shown = JSON.parse(r.stdout.trim() || '[]') as IpAddr[];
  } catch {
    return undefined;
  }
  const out: TaskAddress[] = [];
  for (const l of net.links) {
    const a = shown.find((x) => x.ifname === l.ifname)?.addr_info?.find((x) => x.family === 'inet');
    if (a?.local !== undefined) out.push({ networkId: l.networkId, addr: `${a.local}/${a.prefixlen ?? 32}` });
  }
  return out;
}

/**
 * Pins the namespace of a running task again from its process (`/proc/<pid>/ns/net`), when
 * the pin is gone (the agent came back in another mount namespace, or someone unmounted it).
 * Resolves whether it worked.
 */
export async function repinTaskNet(runner: CommandRunner, tools: NetnsTools, net: TaskNet, pid: number): Promise<boolean> {
  try {
    await (await open(net.netns, 'a', 0o600)).close();
  } catch {
    return false;
  }
  const r = await runner.run([tools.mount, '--bind', `/proc/${pid}/ns/net`, net.netns]);
  return r.code === 0;
}

/** The sh that binds the task's resolv.conf read-only in its private mount namespace, then execs the rest. */
const BIND_RESOLV = 'm=$1; r=$2; shift 2; "$m" --bind -o ro "$r" /etc/resolv.conf || exit 127; exec "$@"';

/**
 * The argv prefix that runs a program inside a task's namespace: `nsenter --net=<file>`, then
 * (with a resolv.conf) `unshare --mount --propagation slave` + a `sh` binding it over
 * `/etc/resolv.conf`, then (with a user) `setpriv` to drop to it. Spawned as root, as one
 * process that execs down the chain (its pid is the program's). Slave propagation: the task
 * sees the host's later mounts and unmounts (another task's pinned namespace going away),
 * and its own bind stays its own.
 */
export function enterPrefix(tools: NetnsTools, net: TaskNet, user: { readonly uid?: number; readonly gid?: number }): string[] {
  const argv = [tools.nsenter, `--net=${net.netns}`];
  if (net.resolvConf !== undefined) {
    argv.push(tools.unshare, '--mount', '--propagation', 'slave', '/bin/sh', '-c', BIND_RESOLV, 'flotilla-net', tools.mount, net.resolvConf);
  }
  if (user.uid !== undefined) {
    argv.push(tools.setpriv, `--reuid=${user.uid}`, `--regid=${user.gid ?? 0}`, '--clear-groups');
  }
  return argv;
}

async function must(runner: CommandRunner, argv: readonly string[], stdin: string | undefined, what: string): Promise<void> {
  const r = await runner.run(argv, stdin);
  if (r.code !== 0) throw new NetnsError(`cannot ${what}: ${r.stderr.trim() || `exit code ${r.code}`}`);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
