import type Docker from 'dockerode';
import { overlaps, parseCidr } from '../../lib/cidr.ts';
import type { BridgeProvider, LocalNetwork } from './local-network.ts';
import { BRIDGE_PREFIX } from './names.ts';
import type { CommandRunner } from './runner.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * Docker makes the bridge: each Flotilla network on this node is a Docker user-defined
 * `bridge` network whose bridge device is `flb-<id10>`, so the docker driver can put
 * containers on it with the address the agent chose (`IPAMConfig.IPv4Address`, which Docker
 * takes anywhere in the subnet, outside `IPRange` too). Its name is `flt-<id10>`, or the
 * network's own name when it is attachable (`docker run --network NAME` looks it up by name).
 * Its IPAM subnet is the network's **whole range** (Docker's internal-network rules drop
 * traffic leaving the Docker subnet, and containers must see the range on-link), its gateway
 * the slice's offset 1. Its `IPRange` is what Docker's own IPAM may hand out: on an attachable
 * network the slice's `containerRange` (tasks never get an address there), elsewhere the
 * gateway alone (`<gateway>/32`, already taken), so a plain `docker run --network flt-…` is
 * refused by the engine ("no available IPv4 addresses"). Docker's masquerade is off (the
 * agent's own rule masquerades only traffic leaving the range); ICC on; MTU the overlay's.
 */

/** The labels on the Docker networks the agent makes. */
export const NETWORK_LABELS = {
  id: 'flotilla.network.id',
  name: 'flotilla.network.name',
  /** The node whose agent made it: an agent lists and removes only its own. */
  node: 'flotilla.node.id',
} as const;

export type DockerNetworkErrorCode = 'in_use' | 'conflict' | 'engine';

/** A Docker network the agent cannot make or remove as asked; `message` names it and says why. */
export class DockerNetworkError extends CodedError<DockerNetworkErrorCode> {
  override readonly name = 'DockerNetworkError';
}

export const isDockerNetworkError = errorGuard(DockerNetworkError);

/** The create request for a network's Docker network (pure). */
export function dockerNetworkCreate(n: LocalNetwork, nodeId = ''): Docker.NetworkCreateOptions {
  return {
    Name: n.dockerNetwork,
    CheckDuplicate: true,
    Driver: 'bridge',
    // `ingress` never carries a task's default route: Docker orders non-internal endpoints first.
    Internal: n.internal || n.ingress,
    IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, IPRange: dockerRange(n), Gateway: n.gateway }] },
    Options: {
      'com.docker.network.bridge.name': n.bridge,
      'com.docker.network.driver.mtu': String(n.mtu),
      'com.docker.network.bridge.enable_ip_masquerade': 'false',
      'com.docker.network.bridge.enable_icc': 'true',
    },
    Labels: { [NETWORK_LABELS.id]: n.id, [NETWORK_LABELS.name]: n.name, ...(nodeId === '' ? {} : { [NETWORK_LABELS.node]: nodeId }) },
  };
}

/** The addresses Docker's own IPAM may hand out (plain containers): see the module comment. */
export function dockerRange(n: LocalNetwork): string {
  return n.containerRange ?? `${n.gateway}/32`;
}

/**
 * What differs between an existing Docker network and the one `n` needs (empty: it fits).
 * Pure; each difference is a short phrase for the error message.
 */
export function networkDifferences(found: Docker.NetworkInspectInfo, n: LocalNetwork): string[] {
  const want = dockerNetworkCreate(n);
  const cfg = found.IPAM?.Config?.[0] as { Subnet?: string; IPRange?: string; Gateway?: string } | undefined;
  const diffs: string[] = [];
  const check = (what: string, has: unknown, wants: unknown): void => {
    if (has !== wants) diffs.push(`${what} ${String(has ?? 'none')} (wanted ${String(wants)})`);
  };
  check('label', found.Labels?.[NETWORK_LABELS.id], n.id);
  check('driver', found.Driver, 'bridge');
  check('subnet', cfg?.Subnet, n.subnet);
  check('ip range', cfg?.IPRange, dockerRange(n));
  check('gateway', cfg?.Gateway, n.gateway);
  check('internal', found.Internal, want.Internal);
  for (const [k, v] of Object.entries(want.Options ?? {})) check(k, found.Options?.[k], v);
  return diffs;
}

/**
 * The `BridgeProvider` of nodes with a Docker engine. The networks it makes carry the node's
 * id; it lists and removes only those. A network another Flotilla node left on this engine
 * (an earlier `flotilla dev` with another data dir) that overlaps a range this node needs is
 * removed when no container uses it: Docker refuses overlapping subnets.
 */
export function dockerBridges(docker: Docker, nodeId: string, runner?: CommandRunner): BridgeProvider {
  async function inspect(name: string): Promise<Docker.NetworkInspectInfo | undefined> {
    try {
      return (await docker.getNetwork(name).inspect()) as Docker.NetworkInspectInfo;
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw engineError(e, `inspect Docker network ${name}`);
    }
  }

  async function create(n: LocalNetwork, retry = true): Promise<void> {
    try {
      await docker.createNetwork(dockerNetworkCreate(n, nodeId));
    } catch (e) {
      // 409: made meanwhile (another ensure); the caller's next ensure checks it.
      if (statusOf(e) === 409) return;
      if (retry && /overlap/i.test(engineMessage(e)) && (await removeAbandoned(n))) return create(n, false);
      throw engineError(e, `create Docker network ${n.dockerNetwork} for network ${n.name} (${n.subnet}, slice ${n.slice})`);
    }
  }

  /**
   * Removes this node's Docker networks of `n` under another name (the network's Docker name
   * changed: an older agent's `flt-<id10>` of an attachable network): they hold its bridge. One
   * that containers still use is kept, and its name returned: the network stays up under it
   * (tasks keep their endpoints, new ones join it) until it is empty, then it is made anew.
   */
  async function removeRenamed(n: LocalNetwork): Promise<string | undefined> {
    let kept: string | undefined;
    for (const net of await listOwn(docker, n.id, nodeId)) {
      if (net.Name === n.dockerNetwork) continue;
      const full = await inspect(net.Name);
      if (full && Object.keys(full.Containers ?? {}).length > 0) {
        kept = net.Name;
        continue;
      }
      await removeByName(net.Name, `network ${n.name} under its former name`);
    }
    return kept;
  }

  /** Removes unused Flotilla networks of other nodes whose range overlaps `n`'s; whether any went. */
  async function removeAbandoned(n: LocalNetwork): Promise<boolean> {
    let removed = false;
    for (const net of await listOwn(docker)) {
      if (net.Labels?.[NETWORK_LABELS.node] === nodeId) continue;
      const subnet = (net.IPAM?.Config?.[0] as { Subnet?: string } | undefined)?.Subnet;
      if (subnet === undefined || !rangesOverlap(subnet, n.subnet)) continue;
      const full = await inspect(net.Name);
      if (!full || Object.keys(full.Containers ?? {}).length > 0) continue;
      await removeByName(net.Name, 'left by another Flotilla node').then(() => (removed = true), () => undefined);
    }
    return removed;
  }

  async function removeByName(name: string, what: string): Promise<void> {
    try {
      await docker.getNetwork(name).remove();
    } catch (e) {
      const status = statusOf(e);
      if (status === 404) return;
      if (status === 403 || status === 409) {
        throw new DockerNetworkError('in_use', `Docker network ${name} (${what}) still has containers attached: ${engineMessage(e)}`, { cause: e });
      }
      throw engineError(e, `remove Docker network ${name}`);
    }
  }

  return {
    kind: 'docker',

    async ensure(n: LocalNetwork): Promise<string | undefined> {
      const name = n.dockerNetwork;
      let found = await inspect(name);
      if (!found) {
        const former = await removeRenamed(n);
        if (former !== undefined) return former;
        await create(n);
        found = await inspect(name);
        if (!found) throw new DockerNetworkError('engine', `Docker network ${name} for network ${n.name} vanished right after it was created`);
      }
      const diffs = networkDifferences(found, n);
      if (diffs.length === 0) return undefined;
      const users = Object.keys(found.Containers ?? {}).length;
      if (found.Labels?.[NETWORK_LABELS.id] !== n.id) {
        throw new DockerNetworkError('conflict', `Docker network ${name} exists but is not network ${n.name}'s (${diffs.join(', ')}): remove it or rename it`);
      }
      // Only Docker's own range differs (made by an older agent) and tasks use it: it still
      // carries them; it is made anew once it is empty.
      if (users > 0 && diffs.every((d) => d.startsWith('ip range '))) return undefined;
      if (users > 0) {
        throw new DockerNetworkError('in_use', `Docker network ${name} of network ${n.name} differs from the network map (${diffs.join(', ')}) and ${users} container(s) still use it`);
      }
      await removeByName(name, `network ${n.name}`);
      await create(n);
      const again = await inspect(name);
      const left = again ? networkDifferences(again, n) : ['missing'];
      if (left.length > 0) throw new DockerNetworkError('engine', `Docker network ${name} of network ${n.name} still differs after it was recreated: ${left.join(', ')}`);
      return undefined;
    },

    async remove(networkId: string): Promise<void> {
      for (const net of await listOwn(docker, networkId, nodeId)) await removeByName(net.Name, `network ${net.Labels?.[NETWORK_LABELS.name] ?? networkId}`);
    },

    async sweepOrphans(keep: ReadonlySet<string>): Promise<void> {
      if (runner === undefined) return;
      const r = await runner.run(['ip', '-j', 'link', 'show', 'type', 'bridge']);
      if (r.code !== 0) return;
      const links = (JSON.parse(r.stdout.trim() || '[]') as Array<{ ifname: string }>).map((l) => l.ifname).filter((n) => n.startsWith(BRIDGE_PREFIX));
      if (links.length === 0) return;
      let owned: Docker.NetworkInspectInfo[];
      try {
        owned = await docker.listNetworks();
      } catch (e) {
        throw engineError(e, 'list Docker networks');
      }
      const dockerOwned = new Set(owned.map((n) => n.Options?.['com.docker.network.bridge.name']).filter((n): n is string => n !== undefined));
      const orphans = links.filter((l) => !keep.has(l) && !dockerOwned.has(l));
      if (orphans.length > 0) await runner.run(['ip', '-force', '-batch', '-'], `${orphans.map((l) => `link del dev ${l}`).join('\n')}\n`);
    },

    async list(): Promise<string[]> {
      const ids = (await listOwn(docker, undefined, nodeId)).map((net) => net.Labels?.[NETWORK_LABELS.id] ?? '');
      return [...new Set(ids.filter((id) => id !== ''))];
    },
  };
}

/** The Docker networks Flotilla agents made (for one network id, or all; of one node, or any). */
async function listOwn(docker: Docker, networkId?: string, nodeId?: string): Promise<Docker.NetworkInspectInfo[]> {
  const label = [networkId === undefined ? NETWORK_LABELS.id : `${NETWORK_LABELS.id}=${networkId}`];
  if (nodeId !== undefined) label.push(`${NETWORK_LABELS.node}=${nodeId}`);
  try {
    return await docker.listNetworks({ filters: { label } });
  } catch (e) {
    throw engineError(e, 'list Docker networks');
  }
}

function rangesOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return x.ok && y.ok && overlaps(x.cidr, y.cidr);
}

function statusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** The engine's own words for a failed call. */
function engineMessage(e: unknown): string {
  const err = e as { json?: { message?: unknown }; message?: unknown } | null;
  if (typeof err?.json?.message === 'string') return err.json.message;
  return typeof err?.message === 'string' ? err.message : String(e);
}

function engineError(e: unknown, doing: string): DockerNetworkError {
  return new DockerNetworkError('engine', `${doing}: ${engineMessage(e)}`, { cause: e });
}
