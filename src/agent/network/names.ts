import { createHash } from 'node:crypto';

/**
 * Names of the kernel objects the agent makes for a network, and of its iptables chains.
 * Device names keep 10 characters of the network id so they stay within Linux's 15
 * (`IFNAMSIZ` − 1); chain names within iptables' 28.
 */

/** Characters of a network id that device names keep. */
export const ID_CHARS = 10;

/** The network's bridge on this host (tasks' ports, gateway address): `flb-<id10>`. */
export function bridgeName(networkId: string): string {
  return `flb-${networkId.slice(0, ID_CHARS)}`;
}

/** The network's VXLAN device on this host: `flx-<id10>`. */
export function vxlanName(networkId: string): string {
  return `flx-${networkId.slice(0, ID_CHARS)}`;
}

/**
 * The Docker network that makes the bridge on Docker hosts: `flt-<id10>`, or for an attachable
 * network its own name (`attachableName`), which plain `docker run --network NAME` looks up.
 */
export function dockerNetworkName(networkId: string, attachableName?: string): string {
  return attachableName ?? `flt-${networkId.slice(0, ID_CHARS)}`;
}

/** Prefixes of the device names above (for sweeping leftovers, and iptables `flb-+`). */
export const BRIDGE_PREFIX = 'flb-';
export const VXLAN_PREFIX = 'flx-';

/** The port-less bridge every VIP block routes to: what no DNAT rule takes is dropped there. */
export const VIP_DEVICE = 'flt-vip';

/** Filter chain with the isolation rules, jumped to from `DOCKER-USER`. */
export const FORWARD_CHAIN = 'FLT-FORWARD';
/** Nat chain with the VIP and routing-mesh entry rules, jumped to from PREROUTING and OUTPUT. */
export const SERVICES_CHAIN = 'FLT-SERVICES';
/** Nat chain with the masquerade rules, jumped to from POSTROUTING. */
export const POSTROUTING_CHAIN = 'FLT-POSTROUTING';
/** Docker's chain for user rules, jumped to first from FORWARD; Docker never rewrites it. */
export const DOCKER_USER_CHAIN = 'DOCKER-USER';
/** Every chain Flotilla owns starts with this; others are never touched. */
export const CHAIN_PREFIX = 'FLT-';

/** A short stable hash of its parts (16 upper-case hex digits), for chain names. */
export function chainHash(...parts: readonly (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16).toUpperCase();
}

/** The chain that load-balances a service's VIP on one network. */
export function serviceChain(serviceId: string, networkId: string): string {
  return `FLT-SVC-${chainHash(serviceId, networkId)}`;
}

/** The chain of one endpoint of a service's VIP (hairpin mark + DNAT). */
export function endpointChain(serviceId: string, networkId: string, taskId: string): string {
  return `FLT-SEP-${chainHash(serviceId, networkId, taskId)}`;
}

/** The chain of one port a service publishes on the routing mesh. */
export function ingressChain(serviceId: string, protocol: string, published: number): string {
  return `FLT-ING-${chainHash(serviceId, protocol, published)}`;
}
