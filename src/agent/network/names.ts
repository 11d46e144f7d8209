/** Device and Docker names of a network on a host (all ≤ 15 characters, the kernel's limit). */

/** The network's Linux bridge: `flb-<first 10 chars of its id>`. */
export function bridgeName(networkId: string): string {
  return `flb-${networkId.slice(0, 10)}`;
}

/** The network's VXLAN device: `flx-<first 10 chars of its id>`. */
export function vxlanName(networkId: string): string {
  return `flx-${networkId.slice(0, 10)}`;
}

/** The Docker user-defined network that owns the bridge: `flt-<first 10 chars of its id>`. */
export function dockerNetworkName(networkId: string): string {
  return `flt-${networkId.slice(0, 10)}`;
}
