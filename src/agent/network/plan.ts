import type { MapEndpoint, MapService, NetworkMap } from '../../api/network.ts';
import { parseIp } from '../../lib/cidr.ts';
import { localNetwork, vipBlock, VXLAN_PORT, type LocalNetwork, type Underlay } from './local-network.ts';
import {
  BRIDGE_PREFIX,
  DOCKER_USER_CHAIN,
  endpointChain,
  FORWARD_CHAIN,
  ingressChain,
  POSTROUTING_CHAIN,
  serviceChain,
  SERVICES_CHAIN,
  VXLAN_PREFIX,
} from './names.ts';

/**
 * The pure core of the data plane: the network map (+ this node's id and underlay) → the whole
 * desired kernel state of the host: devices, addresses, neighbours, FDB entries, routes,
 * sysctls and the iptables chains Flotilla owns. `apply.ts` makes the kernel match it.
 * Layout and rule templates: the design note §3.3, §3.7–3.9 and `docs/networking.md`.
 */

/**
 * Packet marks (bits clear of kube-proxy's 0x4000/0x8000 and Docker's 0xD0C4E3): a routing-mesh
 * flow (accepted in FORWARD, masqueraded) and a hairpin flow (an endpoint reaching its own VIP
 * and picked itself: masqueraded so the reply comes back through the host).
 */
export const MESH_MARK = 0x10000;
export const HAIRPIN_MARK = 0x20000;

const hex = (n: number): string => `0x${n.toString(16)}`;

export interface PlanInput {
  readonly map: NetworkMap;
  readonly nodeId: string;
  /** Absent: no overlay on this node (local bridges only, no VXLAN). */
  readonly underlay?: Underlay | undefined;
  /** Tasks whose endpoints leave every load balancer now (the local fast path), map or not. */
  readonly goneTasks?: ReadonlySet<string>;
  /** VXLAN UDP port. Default 4789. */
  readonly vxlanPort?: number;
}

/** A network's VXLAN device on this host. */
export interface VxlanDevice {
  readonly name: string;
  readonly networkId: string;
  readonly vni: number;
  /** This node's underlay address and device. */
  readonly local: string;
  readonly dev: string;
  readonly port: number;
  /** `02:f1:` + the 4 bytes of the underlay address (so peers derive it without asking). */
  readonly mac: string;
  readonly mtu: number;
  /** This node's VTEP address on the network (slice offset 0), as `/32`. */
  readonly address: string;
}

/** Another node's slice of a local network, reached over VXLAN. */
export interface RemoteSlice {
  readonly vxlan: string;
  readonly subnet: string;
  /** Offset 0 of the slice (that node's VTEP address on the network). */
  readonly vtep: string;
  readonly mac: string;
  readonly underlay: string;
}

/** A UDP conntrack entry shape to delete when the endpoint leaves (`conntrack -D`). */
export interface UdpFlow {
  /** The VIP the flow was sent to (VIP load balancing). */
  readonly origDst?: string;
  /** The published port the flow was sent to (routing mesh). */
  readonly origPortDst?: number;
  /** The endpoint that answers it; absent: every flow to the target. */
  readonly replySrc?: string;
}

/** An iptables chain Flotilla owns, rewritten whole on every apply. */
export interface Chain {
  readonly name: string;
  /** Rule texts, without the leading `-A <chain>`. */
  readonly rules: readonly string[];
}

export interface HostPlan {
  /** The networks this node holds a slice of and programs (encrypted ones are left out). */
  readonly networks: readonly LocalNetwork[];
  readonly vxlans: readonly VxlanDevice[];
  readonly remotes: readonly RemoteSlice[];
  /** VIP blocks, each routed to `flt-vip`. */
  readonly vipRoutes: readonly string[];
  /** `/proc/sys` keys (`net/ipv4/ip_forward`) and values. */
  readonly sysctls: ReadonlyArray<readonly [string, string]>;
  /** Bridges whose every port gets hairpin mode. */
  readonly hairpinBridges: readonly string[];
  readonly filter: readonly Chain[];
  readonly nat: readonly Chain[];
  /** The UDP flows that may exist to the current endpoints (diffed to clean conntrack). */
  readonly udpFlows: readonly UdpFlow[];
  /**
   * VIPs (`origDst`) and mesh ports (`origPortDst`) without endpoints. UDP sent to them
   * meanwhile leaves conntrack entries that would keep bypassing the DNAT once endpoints come
   * (each packet refreshes them): they are deleted when the target gets endpoints.
   */
  readonly unserved: readonly UdpFlow[];
}

/** `02:f1:` + the address bytes in hex. */
export function vtepMac(underlayAddr: string): string {
  const n = parseIp(underlayAddr);
  if (n === undefined) throw new Error(`${JSON.stringify(underlayAddr)} is not an IPv4 address`);
  const bytes = [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return ['02', 'f1', ...bytes.map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** `10.0.3.2/16` → `10.0.3.2`. */
function plainIp(addr: string): string {
  const slash = addr.indexOf('/');
  return slash < 0 ? addr : addr.slice(0, slash);
}

/** The endpoints serving on `networkId`, with their address there, in a stable order. */
function endpointsOn(service: MapService, networkId: string, gone: ReadonlySet<string>): Array<{ ep: MapEndpoint; ip: string }> {
  const out: Array<{ ep: MapEndpoint; ip: string }> = [];
  for (const ep of service.endpoints) {
    if (gone.has(ep.taskId)) continue;
    const a = ep.addresses.find((x) => x.networkId === networkId);
    if (a !== undefined) out.push({ ep, ip: plainIp(a.addr) });
  }
  return out.sort((a, b) => (a.ep.taskId < b.ep.taskId ? -1 : a.ep.taskId > b.ep.taskId ? 1 : 0));
}

/** kube-proxy's split: rule i of n matches with probability 1/(n−i), the last always. */
function probability(i: number, n: number): string {
  return (1 / (n - i)).toFixed(10);
}

function comment(text: string): string {
  return `-m comment --comment ${JSON.stringify(text)}`;
}

/** The desired kernel state of this host. Pure. */
export function planHost(input: PlanInput): HostPlan {
  const { map, nodeId, underlay } = input;
  const gone = input.goneTasks ?? new Set<string>();
  const port = input.vxlanPort ?? VXLAN_PORT;

  const networks: LocalNetwork[] = [];
  for (const n of map.networks) {
    const local = localNetwork(n, nodeId, underlay?.mtu);
    // Encrypted networks need kernel IPsec or WireGuard (absent here): never carried in clear.
    if (local !== undefined && !local.encrypted) networks.push(local);
  }
  networks.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byId = new Map(networks.map((n) => [n.id, n]));

  const vxlans: VxlanDevice[] = [];
  const remotes: RemoteSlice[] = [];
  if (underlay !== undefined) {
    const mac = vtepMac(underlay.addr);
    for (const n of networks) {
      vxlans.push({
        name: n.vxlan,
        networkId: n.id,
        vni: n.vni,
        local: underlay.addr,
        dev: underlay.dev,
        port,
        mac,
        mtu: n.mtu,
        address: `${n.vtep}/32`,
      });
      const mapNet = map.networks.find((m) => m.id === n.id);
      for (const s of mapNet?.slices ?? []) {
        if (s.nodeId === nodeId || s.underlay === undefined || s.underlay === underlay.addr) continue;
        remotes.push({ vxlan: n.vxlan, subnet: s.subnet, vtep: plainIp(s.subnet), mac: vtepMac(s.underlay), underlay: s.underlay });
      }
    }
  }

  const sysctls: Array<readonly [string, string]> = [
    ['net/ipv4/ip_forward', '1'],
    ['net/bridge/bridge-nf-call-iptables', '1'],
  ];
  for (const n of networks) {
    sysctls.push([`net/ipv4/conf/${n.bridge}/proxy_arp`, '1']);
    sysctls.push([`net/ipv4/neigh/${n.bridge}/proxy_delay`, '0']);
    sysctls.push([`net/ipv4/conf/${n.bridge}/rp_filter`, '2']);
    // The routing mesh answers on loopback too (`curl localhost:8080` on a node): a packet from
    // 127.0.0.1 DNATed to a task may leave through the ingress devices (then masqueraded), as
    // Swarm allows on docker_gwbridge.
    if (n.ingress) {
      sysctls.push([`net/ipv4/conf/${n.bridge}/route_localnet`, '1']);
      if (underlay !== undefined) sysctls.push([`net/ipv4/conf/${n.vxlan}/route_localnet`, '1']);
    }
  }
  for (const v of vxlans) sysctls.push([`net/ipv4/conf/${v.name}/rp_filter`, '2']);

  // --- nat: VIPs and the routing mesh ---------------------------------------------------------
  const services = [...map.services].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const servicesRules: string[] = [];
  const natChains: Chain[] = [];
  const rejects: string[] = [];
  const udpFlows: UdpFlow[] = [];
  const unserved: UdpFlow[] = [];
  for (const svc of services) {
    if (svc.mode !== 'vip') continue;
    for (const vip of svc.virtualIps) {
      const net = byId.get(vip.networkId);
      // VIPs on `ingress` are not served: ingress interfaces carry only routing-mesh flows.
      if (net === undefined || net.ingress) continue;
      const vipIp = plainIp(vip.addr);
      const eps = endpointsOn(svc, net.id, gone);
      const tag = `${svc.name} on ${net.name}`;
      if (eps.length === 0) {
        // Like kube-proxy: a refused connection, not a silent drop in flt-vip.
        rejects.push(`-d ${vipIp}/32 ${comment(`${tag}: no endpoints`)} -j REJECT`);
        unserved.push({ origDst: vipIp });
        continue;
      }
      const svcChain = serviceChain(svc.id, net.id);
      servicesRules.push(`-d ${vipIp}/32 -i ${net.bridge} ${comment(tag)} -j ${svcChain}`);
      const lb: string[] = [];
      eps.forEach(({ ep, ip }, i) => {
        const sep = endpointChain(svc.id, net.id, ep.taskId);
        lb.push(i < eps.length - 1 ? `-m statistic --mode random --probability ${probability(i, eps.length)} -j ${sep}` : `-j ${sep}`);
        natChains.push({
          name: sep,
          rules: [`-s ${ip}/32 -j MARK --or-mark ${hex(HAIRPIN_MARK)}`, `-j DNAT --to-destination ${ip}`],
        });
        udpFlows.push({ origDst: vipIp, replySrc: ip });
      });
      natChains.push({ name: svcChain, rules: lb });
    }
  }

  const ingressNet = networks.find((n) => n.ingress);
  if (ingressNet !== undefined) {
    for (const svc of services) {
      const eps = endpointsOn(svc, ingressNet.id, gone);
      if (eps.length === 0) {
        // Nothing listens on the port: the host answers with a reset (TCP) or port unreachable.
        for (const p of svc.ingressPorts) if (p.protocol === 'udp') unserved.push({ origPortDst: p.published });
        continue;
      }
      const ports = [...svc.ingressPorts].sort((a, b) => a.published - b.published || (a.protocol < b.protocol ? -1 : 1));
      for (const p of ports) {
        const chain = ingressChain(svc.id, p.protocol, p.published);
        servicesRules.push(`-m addrtype --dst-type LOCAL -p ${p.protocol} --dport ${p.published} ${comment(`${svc.name} ${p.published}/${p.protocol}`)} -j ${chain}`);
        const rules = [`-j MARK --or-mark ${hex(MESH_MARK)}`];
        eps.forEach(({ ip }, i) => {
          const pick = i < eps.length - 1 ? `-m statistic --mode random --probability ${probability(i, eps.length)} ` : '';
          rules.push(`${pick}-p ${p.protocol} -j DNAT --to-destination ${ip}:${p.target}`);
          if (p.protocol === 'udp') udpFlows.push({ origPortDst: p.published, replySrc: ip });
        });
        natChains.push({ name: chain, rules });
      }
    }
  }

  // Plain containers on an attachable network resolve through Docker's embedded DNS, which
  // forwards what it does not know to the host's resolvers from inside the container's
  // namespace: those queries are taken to the agent's DNS on the gateway (it answers the
  // network's names and forwards the rest upstream itself). Only Docker's range: a task asks
  // the agent already and may query another server on purpose. Not what goes to the network's
  // own range (a DNS service's VIP or task), and after the VIP and published-port rules (an
  // ingress port 53 on the node), so those reach their servers as a task's would.
  for (const n of networks) {
    if (n.containerRange === undefined) continue;
    for (const proto of ['udp', 'tcp']) {
      servicesRules.push(`-s ${n.containerRange} ! -d ${n.subnet} -i ${n.bridge} -p ${proto} --dport 53 ${comment(`${n.name} containers DNS`)} -j DNAT --to-destination ${n.gateway}:53`);
    }
  }

  const postrouting = [
    `-m mark --mark ${hex(MESH_MARK)}/${hex(MESH_MARK)} -j MASQUERADE --random-fully`,
    `-m mark --mark ${hex(HAIRPIN_MARK)}/${hex(HAIRPIN_MARK)} -j MASQUERADE`,
  ];
  for (const n of networks) {
    if (!n.internal && !n.ingress) postrouting.push(`-s ${n.subnet} ! -d ${n.subnet} ${comment(`${n.name} egress`)} -j MASQUERADE`);
  }

  // --- filter: isolation -------------------------------------------------------------------------
  const forward = [
    '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    `-m mark --mark ${hex(MESH_MARK)}/${hex(MESH_MARK)} -j ACCEPT`,
    // Flows the host DNATs to a task (Docker's host-mode published ports).
    `-o ${BRIDGE_PREFIX}+ -m conntrack --ctstate DNAT ! -i ${VXLAN_PREFIX}+ -j ACCEPT`,
    ...rejects,
  ];
  for (const n of networks) {
    if (n.ingress) {
      // Mesh flows that another node DNATed (and masqueraded) to a task here; no task↔task.
      forward.push(`-i ${n.vxlan} -o ${n.bridge} -j ACCEPT`);
    } else {
      forward.push(`-i ${n.bridge} -o ${n.bridge} -j ACCEPT`, `-i ${n.bridge} -o ${n.vxlan} -j ACCEPT`, `-i ${n.vxlan} -o ${n.bridge} -j ACCEPT`);
    }
  }
  forward.push(`-o ${BRIDGE_PREFIX}+ -j DROP`, `-o ${VXLAN_PREFIX}+ -j DROP`, `-i ${VXLAN_PREFIX}+ -j DROP`);
  // Egress of a non-internal network: back to FORWARD, where Docker's own rules decide (its
  // isolation drops traffic into its other bridges, `docker0` included; then it accepts what
  // leaves the bridge). An ACCEPT here would skip that isolation.
  for (const n of networks) if (!n.internal && !n.ingress) forward.push(`-i ${n.bridge} -j RETURN`);
  forward.push(`-i ${BRIDGE_PREFIX}+ -j DROP`);

  return {
    networks,
    vxlans,
    remotes,
    vipRoutes: [...new Set(networks.filter((n) => !n.ingress).map((n) => vipBlock(n.subnet)))],
    sysctls,
    hairpinBridges: networks.map((n) => n.bridge),
    filter: [{ name: FORWARD_CHAIN, rules: forward }],
    nat: [{ name: SERVICES_CHAIN, rules: servicesRules }, ...natChains, { name: POSTROUTING_CHAIN, rules: postrouting }],
    udpFlows,
    unserved,
  };
}

/** The chains and rules of one table, as `iptables-save` printed them. */
interface SavedTable {
  readonly chains: ReadonlySet<string>;
  readonly rules: ReadonlySet<string>;
}

/** Parses `iptables-save` output into its tables' chain names and `-A` lines. */
export function parseSave(saved: string): Map<string, SavedTable> {
  const tables = new Map<string, { chains: Set<string>; rules: Set<string> }>();
  let cur: { chains: Set<string>; rules: Set<string> } | undefined;
  for (const raw of saved.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      cur = { chains: new Set(), rules: new Set() };
      tables.set(line.slice(1), cur);
    } else if (cur === undefined) {
      continue;
    } else if (line.startsWith(':')) {
      cur.chains.add(line.slice(1).split(' ')[0] ?? '');
    } else if (line.startsWith('-A ')) {
      cur.rules.add(line);
    }
  }
  return tables;
}

/** The jumps into Flotilla's chains, per table: `[from chain, to chain]`, each inserted first. */
const JUMPS: Record<'filter' | 'nat', ReadonlyArray<readonly [string, string]>> = {
  filter: [
    ['FORWARD', DOCKER_USER_CHAIN],
    [DOCKER_USER_CHAIN, FORWARD_CHAIN],
  ],
  nat: [
    ['PREROUTING', SERVICES_CHAIN],
    ['OUTPUT', SERVICES_CHAIN],
    ['POSTROUTING', POSTROUTING_CHAIN],
  ],
};

/**
 * The `iptables-restore --noflush` text that makes the kernel hold exactly `plan`'s chains,
 * given what `iptables-save` printed: every `FLT-*` chain of the plan declared (which flushes
 * it) and refilled; `FLT-*` chains the plan no longer has flushed and deleted; the jumps into
 * them (and `DOCKER-USER`, when Docker has not made it) inserted only when missing. Applying
 * it twice changes nothing; the rule count is stable.
 */
export function restoreText(plan: HostPlan, saved: string, applied?: HostPlan): string {
  const tables = parseSave(saved);
  const out: string[] = [];
  for (const table of ['filter', 'nat'] as const) {
    const have = tables.get(table) ?? { chains: new Set<string>(), rules: new Set<string>() };
    const chains = table === 'filter' ? plan.filter : plan.nat;
    // A chain the last applied plan wrote exactly so, and which is still there, is left alone:
    // a membership change rewrites only the chains it touches (the periodic full apply passes
    // no `applied` and rewrites every chain).
    const before = new Map((applied === undefined ? [] : table === 'filter' ? applied.filter : applied.nat).map((c) => [c.name, c.rules]));
    const changed = chains.filter((c) => {
      const rules = before.get(c.name);
      return rules === undefined || !have.chains.has(c.name) || rules.length !== c.rules.length || rules.some((r, i) => r !== c.rules[i]);
    });
    const wanted = new Set(chains.map((c) => c.name));
    const stale = [...have.chains].filter((c) => c.startsWith('FLT-') && !wanted.has(c)).sort();
    out.push(`*${table}`);
    if (table === 'filter' && !have.chains.has(DOCKER_USER_CHAIN)) out.push(`:${DOCKER_USER_CHAIN} - [0:0]`);
    for (const c of changed) out.push(`:${c.name} - [0:0]`);
    for (const c of stale) out.push(`:${c} - [0:0]`);
    for (const c of stale) out.push(`-X ${c}`);
    for (const c of changed) for (const r of c.rules) out.push(`-A ${c.name} ${r}`);
    for (const [from, to] of JUMPS[table]) {
      if (!have.rules.has(`-A ${from} -j ${to}`)) out.push(`-I ${from} 1 -j ${to}`);
    }
    out.push('COMMIT');
  }
  return `${out.join('\n')}\n`;
}

/** A stable key of a UDP flow shape. */
export function flowKey(f: UdpFlow): string {
  return `${f.origDst ?? ''}|${f.origPortDst ?? ''}|${f.replySrc ?? ''}`;
}
