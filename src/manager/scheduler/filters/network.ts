import type { Node } from '../../../api/node.ts';
import type { Demand, DemandNetwork } from '../demand.ts';
import type { Failure } from '../reasons.ts';
import type { StaticFilter } from './filter.ts';

/**
 * A task on networks goes only to a node whose network data plane works
 * (`description.network` reported, nothing `unavailable`), that can encrypt when a network is
 * `encrypted` (kernel IPsec or WireGuard), and that holds a slice of each network whose range
 * has none left for another node. Tasks on no network pass everywhere.
 */
export const networkFilter: StaticFilter = {
  name: 'network',
  cacheKey: (demand) => demand.networks.map((n) => n.id).join(','),
  check: (node, demand) => demand.networks.length === 0 || failure(node, demand) === undefined,
  explain: (node, demand) => failure(node, demand) ?? NO_DATA_PLANE,
};

const NO_DATA_PLANE: Failure = { key: 'network:none', one: 'node has no network data plane', many: 'nodes have no network data plane' };

function failure(node: Node, demand: Demand): Failure | undefined {
  const plane = node.description.network;
  if (plane === undefined) return NO_DATA_PLANE;
  if (plane.unavailable !== undefined) {
    const why = plane.unavailable;
    return { key: `network:unavailable:${why}`, one: `node cannot run overlay networks: ${why}`, many: `nodes cannot run overlay networks: ${why}` };
  }
  for (const n of demand.networks) {
    if (n.encrypted && plane.encryption === 'none') return cannotEncrypt(n);
    if (n.full && !n.holders.has(node.id)) return noRange(n);
  }
  return undefined;
}

function cannotEncrypt(n: DemandNetwork): Failure {
  const tail = `encrypt network ${n.name} (no kernel IPsec or WireGuard)`;
  return { key: `network:encrypt:${n.id}`, one: `node cannot ${tail}`, many: `nodes cannot ${tail}` };
}

function noRange(n: DemandNetwork): Failure {
  const held = n.holders.size;
  const tail = `address range on network ${n.name}, which has none left (${held} ${held === 1 ? 'node holds' : 'nodes hold'} one)`;
  return { key: `network:full:${n.id}`, one: `node has no ${tail}`, many: `nodes have no ${tail}` };
}
