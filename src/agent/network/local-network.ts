/**
 * The seams between the agent's network data plane (`data-plane.ts`: devices, routes, rules)
 * and what attaches tasks (`hook.ts`, the drivers): a network as this node holds it, who makes
 * its bridge, and how the hook waits for it. See `docs/networking.md`.
 */

/** A network as this node holds it: its range, this node's slice of it, and its device names. */
export interface LocalNetwork {
  readonly id: string;
  readonly name: string;
  /** The network's whole range (CIDR); containers see all of it on-link. */
  readonly subnet: string;
  /** The range's prefix length (a task's address is `<ip>/<prefix>`). */
  readonly prefix: number;
  /** This node's slice of the range (CIDR). */
  readonly slice: string;
  /** The slice's offset 1: the bridge's address, the tasks' gateway and DNS server. */
  readonly gateway: string;
  /** The slice's offset 0: this node's VXLAN endpoint address on the network. */
  readonly vtep: string;
  /** `flb-<id10>`. */
  readonly bridge: string;
  /** `flx-<id10>`. */
  readonly vxlan: string;
  readonly mtu: number;
  readonly internal: boolean;
  readonly ingress: boolean;
  readonly encrypted: boolean;
}

/** Who makes a network's bridge on this node: Docker (a user-defined network) or the agent. */
export interface BridgeProvider {
  readonly kind: 'docker' | 'kernel';
  /** Makes the network's bridge exist as `n` says (idempotent). */
  ensure(n: LocalNetwork): Promise<void>;
  /** Removes it (idempotent); an error while tasks still use it (the data plane retries). */
  remove(networkId: string): Promise<void>;
  /** The ids of the networks whose bridges it made. */
  list(): Promise<string[]>;
}

/** What the hook needs from the data plane. */
export interface NetworkSource {
  /**
   * Resolves once this node holds a slice of the network and its bridge exists; rejects when
   * `signal` aborts.
   */
  waitForNetwork(networkId: string, signal: AbortSignal): Promise<LocalNetwork>;
}
