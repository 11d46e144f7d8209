import { at, cidr, contains, formatCidr, formatIp, parseIp, size } from '../../lib/cidr.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * Host-local IPAM: the addresses this node gives its tasks inside its slice of each network
 * (as Kubernetes' CNI `host-local` does inside a node's pod CIDR). The agent is the only
 * writer of its slices, so it never hands out an address a local task still holds. Nothing
 * is persisted: after an agent restart the table is rebuilt from the drivers' recovered
 * tasks (`restore`, see `hook.ts` `restoreAddresses`).
 *
 * In a slice, offset 0 is the node's VXLAN endpoint, offset 1 the gateway, the last offset
 * is kept; tasks get offsets 2 … size−2, the lowest free first, outside the range Docker's
 * own IPAM hands to plain containers on an attachable network (`containerRange`).
 */

/** One task's address on one network (the form `restore` takes). */
export interface IpamEntry {
  readonly taskId: string;
  readonly networkId: string;
  /** Dotted IPv4 address, without prefix. */
  readonly ip: string;
}

/** Who holds an address: the task, and every network that task has an address on. */
export interface AddressOwner {
  readonly taskId: string;
  /** The network this address is on. */
  readonly networkId: string;
  /** Every network the task is on (this one included), in the order they were reserved. */
  readonly networks: readonly string[];
}

export type IpamErrorCode = 'exhausted' | 'invalid';

/** A reservation that cannot be made; `message` says why, naming the slice and network. */
export class IpamError extends CodedError<IpamErrorCode> {
  override readonly name = 'IpamError';
}

export const isIpamError = errorGuard(IpamError);

export class HostIpam {
  /** Per network: address (as a 32-bit integer) → task id. */
  readonly #byNetwork = new Map<string, Map<number, string>>();
  /** Per task: network id → address, in reservation order. */
  readonly #byTask = new Map<string, Map<string, number>>();
  /** Address → network id (networks' ranges never overlap). */
  readonly #byAddress = new Map<number, string>();

  /**
   * The task's address on the network, reserving the lowest free one in `slice` (CIDR) if it
   * has none there yet, never one inside `reserved` (CIDR: an attachable network's container
   * range). Idempotent per (network, task). `networkName` only words the error.
   * Throws `IpamError` `exhausted` when the slice is full.
   */
  reserve(networkId: string, slice: string, taskId: string, networkName: string = networkId, reserved?: string): string {
    const range = cidr(slice);
    const kept = reserved === undefined ? undefined : cidr(reserved);
    const held = this.#byTask.get(taskId)?.get(networkId);
    if (held !== undefined) {
      if (contains(range, held)) return formatIp(held);
      // The node's slice changed (a network recreated): the old address is no longer usable.
      this.#drop(taskId, networkId);
    }
    const used = this.#byNetwork.get(networkId);
    const n = size(range);
    for (let offset = 2; offset <= n - 2; offset++) {
      const ip = at(range, offset);
      if (used?.has(ip) || (kept !== undefined && contains(kept, ip))) continue;
      this.#add(taskId, networkId, ip);
      return formatIp(ip);
    }
    throw new IpamError('exhausted', `no free address in this node's slice ${formatCidr(range)} of network ${networkName}`);
  }

  /** Frees every address of the task (any network). Unknown tasks are fine. */
  release(taskId: string): void {
    for (const networkId of [...(this.#byTask.get(taskId)?.keys() ?? [])]) this.#drop(taskId, networkId);
  }

  /**
   * Marks addresses held by tasks found after an agent restart, so each keeps its address and
   * no new task gets one. An entry whose address another task already holds on that network
   * is skipped (returned), as is one that is not an IPv4 address.
   */
  restore(entries: Iterable<IpamEntry>): IpamEntry[] {
    const skipped: IpamEntry[] = [];
    for (const e of entries) {
      const ip = parseIp(e.ip);
      const holder = ip === undefined ? undefined : this.#byNetwork.get(e.networkId)?.get(ip);
      if (ip === undefined || (holder !== undefined && holder !== e.taskId)) {
        skipped.push(e);
        continue;
      }
      if (this.#byTask.get(e.taskId)?.has(e.networkId)) this.#drop(e.taskId, e.networkId);
      this.#add(e.taskId, e.networkId, ip);
    }
    return skipped;
  }

  /** Who holds `ip` (dotted, without prefix), if a local task does. */
  ownerOf(ip: string): AddressOwner | undefined {
    const n = parseIp(ip);
    if (n === undefined) return undefined;
    const networkId = this.#byAddress.get(n);
    const taskId = networkId === undefined ? undefined : this.#byNetwork.get(networkId)?.get(n);
    if (networkId === undefined || taskId === undefined) return undefined;
    return { taskId, networkId, networks: [...(this.#byTask.get(taskId)?.keys() ?? [])] };
  }

  /**
   * The networks of the local task holding `ip` (every network it is on), or none: what the
   * DNS server scopes an answer to.
   */
  networksOf(ip: string): string[] {
    return [...(this.ownerOf(ip)?.networks ?? [])];
  }

  /** The task's addresses, in reservation order. */
  addressesOf(taskId: string): IpamEntry[] {
    return [...(this.#byTask.get(taskId) ?? [])].map(([networkId, ip]) => ({ taskId, networkId, ip: formatIp(ip) }));
  }

  /** Every reservation (tests, debugging). */
  entries(): IpamEntry[] {
    return [...this.#byTask.keys()].flatMap((t) => this.addressesOf(t));
  }

  #add(taskId: string, networkId: string, ip: number): void {
    let net = this.#byNetwork.get(networkId);
    if (!net) this.#byNetwork.set(networkId, (net = new Map()));
    net.set(ip, taskId);
    let task = this.#byTask.get(taskId);
    if (!task) this.#byTask.set(taskId, (task = new Map()));
    task.set(networkId, ip);
    this.#byAddress.set(ip, networkId);
  }

  #drop(taskId: string, networkId: string): void {
    const task = this.#byTask.get(taskId);
    const ip = task?.get(networkId);
    if (!task || ip === undefined) return;
    task.delete(networkId);
    if (task.size === 0) this.#byTask.delete(taskId);
    const net = this.#byNetwork.get(networkId);
    net?.delete(ip);
    if (net?.size === 0) this.#byNetwork.delete(networkId);
    if (this.#byAddress.get(ip) === networkId) this.#byAddress.delete(ip);
  }
}
