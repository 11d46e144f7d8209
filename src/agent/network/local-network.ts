import type { MapNetwork } from '../../api/network.ts';
import { at, cidr, formatIp, subrange } from '../../lib/cidr.ts';
import { containerRange, sliceLength } from '../../api/network.ts';
import { bridgeName, dockerNetworkName, vxlanName } from './names.ts';

/** VXLAN over IPv4 costs 50 bytes of the underlay's MTU. */
export const VXLAN_OVERHEAD = 50;
/** The underlay MTU assumed when the node's is unknown. */
export const DEFAULT_UNDERLAY_MTU = 1500;
/** The UDP port VXLAN runs on (IANA's; configurable later, like Swarm's `--data-path-port`). */
export const VXLAN_PORT = 4789;

/** The node's underlay: the address VXLAN runs between, its device and MTU. */
export interface Underlay {
  /** IPv4 address (no prefix). */
  readonly addr: string;
  /** The device that address is on (`eth0`). */
  readonly dev: string;
  readonly mtu: number;
}

/** One network as this node holds it: its slice and the names and addresses derived from it. */
export interface LocalNetwork {
  readonly id: string;
  readonly name: string;
  /** The network's range (CIDR, `10.0.0.0/16`). */
  readonly subnet: string;
  /** The range's prefix length: tasks and the bridge carry addresses with it (the range is on-link). */
  readonly prefix: number;
  /** This node's slice (CIDR, `10.0.3.0/24`). */
  readonly slice: string;
  /** Offset 1 of the slice: the bridge's address, the tasks' gateway and DNS server (plain IP). */
  readonly gateway: string;
  /** Offset 0 of the slice: this node's VXLAN endpoint address on the network (plain IP). */
  readonly vtep: string;
  readonly vni: number;
  /** Device names (`names.ts`). */
  readonly bridge: string;
  readonly vxlan: string;
  /** Underlay MTU − 50: every device and task interface on the network. */
  readonly mtu: number;
  readonly internal: boolean;
  readonly ingress: boolean;
  readonly encrypted: boolean;
  /** Plain containers may join it (`docker run --network <name>`). */
  readonly attachable: boolean;
  /**
   * Attachable networks: the part of the slice Docker's IPAM gives plain containers
   * (`containerRange` in `api/network.ts`); tasks never get an address in it.
   */
  readonly containerRange?: string;
  /**
   * The Docker network that makes the bridge on Docker nodes: the network's own name when it
   * is attachable (so `docker run --network <name>` finds it), else `flt-<id10>`.
   */
  readonly dockerNetwork: string;
}

/** The overlay MTU on an underlay of `underlayMtu`. */
export function overlayMtu(underlayMtu: number | undefined): number {
  return (underlayMtu ?? DEFAULT_UNDERLAY_MTU) - VXLAN_OVERHEAD;
}

/** The network's VIP block: slice 0 of its range (CIDR). */
export function vipBlock(subnet: string): string {
  const range = cidr(subnet);
  const block = subrange(range, sliceLength(range.prefix), 0);
  return `${formatIp(block.base)}/${block.prefix}`;
}

/** `network` as node `nodeId` holds it, or undefined when the node has no slice of it. */
export function localNetwork(network: MapNetwork, nodeId: string, underlayMtu: number | undefined): LocalNetwork | undefined {
  const slice = network.slices.find((s) => s.nodeId === nodeId);
  if (slice === undefined) return undefined;
  const s = cidr(slice.subnet);
  return {
    id: network.id,
    name: network.name,
    subnet: network.subnet,
    prefix: cidr(network.subnet).prefix,
    slice: slice.subnet,
    gateway: formatIp(at(s, 1)),
    vtep: formatIp(at(s, 0)),
    vni: network.vni,
    bridge: bridgeName(network.id),
    vxlan: vxlanName(network.id),
    mtu: overlayMtu(underlayMtu),
    internal: network.internal,
    ingress: network.ingress,
    encrypted: network.encrypted,
    attachable: network.attachable === true,
    ...(network.attachable === true ? { containerRange: containerRange(slice.subnet) } : {}),
    dockerNetwork: dockerNetworkName(network.id, network.attachable === true ? network.name : undefined),
  };
}

/**
 * The owner of a network's bridge device (`LocalNetwork.bridge`) on this node: the agent itself
 * (`kernelBridges` in `bridges.ts`) or Docker (`dockerBridges`, a user-defined bridge network
 * whose device is that bridge). The data plane calls `ensure` on every reconcile (it must be
 * idempotent and cheap when nothing changed) before it programs anything else of the network.
 */
export interface BridgeProvider {
  readonly kind: 'docker' | 'kernel';
  /**
   * Makes the bridge exist, up, with the gateway address at the range's prefix and the MTU.
   * Resolves to the Docker network's name when it is not `network.dockerNetwork` (a former
   * name kept while containers use it), undefined otherwise.
   */
  ensure(network: LocalNetwork): Promise<string | undefined>;
  /**
   * Removes the bridge of a network that left this node. Takes a network id, or the first
   * `ID_CHARS` characters of one as `list` may return; nothing to remove is not an error.
   */
  remove(networkId: string): Promise<void>;
  /**
   * The networks whose bridges this provider holds on the node, by id — or by the first
   * `ID_CHARS` characters of the id when that is all it can know (a device name). Compare with
   * `bridgeName(id)`.
   */
  list(): Promise<string[]>;
  /**
   * Optional: removes `flb-*` bridges that no one owns any more (a kernel bridge an earlier
   * agent made on this host before Docker ran here), except those in `keep`: they would route a
   * network's range away from the live bridge.
   */
  sweepOrphans?(keep: ReadonlySet<string>): Promise<void>;
}

/** What the network hook needs from the data plane. */
export interface NetworkSource {
  /**
   * Resolves once this node holds a slice of the network and its bridge exists; rejects when
   * `signal` aborts.
   */
  waitForNetwork(networkId: string, signal: AbortSignal): Promise<LocalNetwork>;
  /**
   * A local task is dying or about to be stopped: out of this node's load balancers and DNS
   * now. Resolves once the host sends it no new flows (see `DataPlane.endpointGone`), to whether
   * it was (or may have been) served here; never rejects.
   */
  endpointGone(taskId: string): Promise<boolean>;
}
