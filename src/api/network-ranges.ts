import { cidr, formatCidr, overlaps, parseCidr, subrange, type Cidr } from '../lib/cidr.ts';
import {
  DEFAULT_ADDRESS_POOL,
  DEFAULT_NETWORK_PREFIX,
  MAX_NETWORK_PREFIX,
  MIN_NETWORK_PREFIX,
  VNI_BASE,
  type Network,
  type NetworkSpec,
} from './network.ts';

/**
 * Choosing a new network's range and VXLAN id, once, in the transaction that creates it
 * (the control API for `POST /v1/networks` and stack deploys, the manager for `ingress`).
 * Pure: the networks that exist are passed in.
 */

/** Ranges a network may not use: the hosts need them for themselves. */
const SPECIAL_RANGES: ReadonlyArray<{ readonly range: string; readonly use: string }> = [
  { range: '0.0.0.0/8', use: '"this network"' },
  { range: '127.0.0.0/8', use: 'loopback' },
  { range: '169.254.0.0/16', use: 'link-local' },
  { range: '224.0.0.0/4', use: 'multicast' },
  { range: '240.0.0.0/4', use: 'reserved' },
];

/** A network's range and VNI, or why it cannot have one (a sentence naming the subnet and the network in the way). */
export type RangeChoice = { readonly ok: true; readonly subnet: string; readonly vni: number } | { readonly ok: false; readonly reason: string };

/**
 * `spec.subnet` when it is valid (/8 to /24, no host bits) and overlaps no existing network
 * ("subnet 10.0.0.0/16 overlaps network backend (10.0.0.0/16)"); otherwise the first /16 of
 * the default pool that overlaps none. The VNI is the lowest free one from `VNI_BASE`.
 */
export function chooseRange(spec: NetworkSpec, existing: readonly Network[]): RangeChoice {
  const taken = existing.map((n) => ({ name: n.spec.name, range: cidr(n.subnet) }));
  let subnet: Cidr | undefined;
  if (spec.subnet !== undefined) {
    const parsed = parseCidr(spec.subnet);
    if (!parsed.ok) return { ok: false, reason: `subnet ${parsed.error}` };
    const { prefix } = parsed.cidr;
    if (prefix < MIN_NETWORK_PREFIX || prefix > MAX_NETWORK_PREFIX) {
      return { ok: false, reason: `subnet ${spec.subnet}: the prefix length must be /${MIN_NETWORK_PREFIX} to /${MAX_NETWORK_PREFIX} (each node takes a slice of the range)` };
    }
    const special = SPECIAL_RANGES.find((r) => overlaps(cidr(r.range), parsed.cidr));
    if (special) return { ok: false, reason: `subnet ${spec.subnet} overlaps ${special.range} (${special.use}): every node routes a network's range to it, choose a private range such as 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16` };
    const clash = taken.find((t) => overlaps(t.range, parsed.cidr));
    if (clash) return { ok: false, reason: `subnet ${spec.subnet} overlaps network ${clash.name} (${formatCidr(clash.range)})` };
    subnet = parsed.cidr;
  } else {
    const pool = cidr(DEFAULT_ADDRESS_POOL);
    const count = 2 ** (DEFAULT_NETWORK_PREFIX - pool.prefix);
    for (let i = 0; i < count && subnet === undefined; i++) {
      const candidate = subrange(pool, DEFAULT_NETWORK_PREFIX, i);
      if (!taken.some((t) => overlaps(t.range, candidate))) subnet = candidate;
    }
    if (subnet === undefined) return { ok: false, reason: `the default address pool ${DEFAULT_ADDRESS_POOL} has no free /${DEFAULT_NETWORK_PREFIX} left: give the network a --subnet` };
  }
  const vnis = new Set(existing.map((n) => n.vni));
  let vni = VNI_BASE;
  while (vnis.has(vni)) vni++;
  return { ok: true, subnet: formatCidr(subnet), vni };
}
