import { sliceLength, type Network, type NetworkSlice } from '../../api/network.ts';
import { at, cidr, formatCidr, formatIp, parseIp, size, subrange, type Cidr } from '../../lib/cidr.ts';

/**
 * The allocator's address management inside a network's range (`docs/networking.md`, address
 * plan). Pure. The range is cut into 16 or more equal sub-ranges of `sliceLength(prefix)`:
 * index 0 is the network's **VIP block**, indexes 1…n are nodes' **slices**, given lowest free
 * first. Addresses are written `a.b.c.d/<network prefix>` (`TaskAddress`, `VirtualIp`), since
 * containers see the whole range on-link.
 */

/** What the address plan reads of a network. */
export type NetworkRange = Pick<Network, 'subnet' | 'slices'> & { readonly spec: Pick<Network['spec'], 'name'> };

/** An address or range handed out, or why none is left. */
export type IpamResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** The VIP block of a network: its sub-range 0. */
export function vipBlock(network: Pick<Network, 'subnet'>): Cidr {
  const range = cidr(network.subnet);
  return subrange(range, sliceLength(range.prefix), 0);
}

/** Which sub-range of its network a slice is (undefined when it is not one of them). */
export function sliceIndex(range: Cidr, slice: string): number | undefined {
  const c = cidr(slice);
  const length = sliceLength(range.prefix);
  if (c.prefix !== length || c.base < range.base) return undefined;
  const index = (c.base - range.base) / 2 ** (32 - length);
  return Number.isInteger(index) && index < 2 ** (length - range.prefix) ? index : undefined;
}

/**
 * The slice for one more node: the lowest free index 1…n (index 0 is the VIP block), as CIDR
 * (`10.0.3.0/24`). Refused when every slice is held: "network front has no free address range
 * for another node (255 nodes hold one)".
 */
export function nextSlice(network: NetworkRange): IpamResult<string> {
  const range = cidr(network.subnet);
  const length = sliceLength(range.prefix);
  const used = new Set<number>();
  for (const s of network.slices) {
    const i = sliceIndex(range, s.subnet);
    if (i !== undefined) used.add(i);
  }
  const count = 2 ** (length - range.prefix);
  for (let i = 1; i < count; i++) if (!used.has(i)) return { ok: true, value: formatCidr(subrange(range, length, i)) };
  const held = network.slices.length;
  return {
    ok: false,
    reason: `network ${network.spec.name} has no free address range for another node (${held} ${held === 1 ? 'node holds' : 'nodes hold'} one)`,
  };
}

/**
 * The network's slices after making sure each node of `wanted` holds one and dropping those of
 * nodes not in `live` (removed from the cluster). Existing slices never move. Nodes are given
 * slices in the order of `wanted`; those left without (range exhausted) are in `refused`, with
 * the reason. `changed` tells whether `slices` differs from the network's.
 */
export function planSlices(
  network: NetworkRange,
  wanted: Iterable<string>,
  live: ReadonlySet<string>,
): { readonly slices: NetworkSlice[]; readonly changed: boolean; readonly refused?: { readonly nodeIds: string[]; readonly reason: string } } {
  const kept = network.slices.filter((s) => live.has(s.nodeId));
  let changed = kept.length !== network.slices.length;
  const slices = [...kept];
  const holding = new Set(slices.map((s) => s.nodeId));
  const refusedIds: string[] = [];
  let reason = '';
  for (const nodeId of wanted) {
    if (holding.has(nodeId) || !live.has(nodeId)) continue;
    holding.add(nodeId);
    const next = nextSlice({ ...network, slices });
    if (!next.ok) {
      refusedIds.push(nodeId);
      reason = next.reason;
      continue;
    }
    slices.push({ nodeId, subnet: next.value });
    changed = true;
  }
  return refusedIds.length > 0 ? { slices, changed, refused: { nodeIds: refusedIds, reason } } : { slices, changed };
}

/** The address part of `a.b.c.d/len` as an integer (undefined when malformed). */
export function addressOf(addr: string): number | undefined {
  const slash = addr.indexOf('/');
  return parseIp(slash < 0 ? addr : addr.slice(0, slash));
}

/**
 * A virtual IP for a service on the network: the lowest free offset 1…size−2 of the VIP block,
 * not `taken` (every VIP other services hold on the network), written with the network's
 * prefix (`10.0.0.2/16`). Refused: "network front has no free virtual IP".
 */
export function nextVip(network: NetworkRange, taken: (ip: number) => boolean): IpamResult<string> {
  const range = cidr(network.subnet);
  const block = vipBlock(network);
  for (let offset = 1; offset <= size(block) - 2; offset++) {
    const ip = at(block, offset);
    if (!taken(ip)) return { ok: true, value: `${formatIp(ip)}/${range.prefix}` };
  }
  return { ok: false, reason: `network ${network.spec.name} has no free virtual IP` };
}
