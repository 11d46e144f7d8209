import type { NetworkMap } from '../../../api/network.ts';

/**
 * The names the agent's DNS server answers, built from the network map (pure). Swarm parity:
 * on each network a service is on,
 * - `<service>` and each of its aliases there → the service's VIP on that network (endpoint
 *   mode `vip`) or its endpoints' addresses on it (`dnsrr`);
 * - `tasks.<service>` and `tasks.<alias>` → the endpoints' addresses;
 * - `<service>.<slot>.<taskId>` (and `<service>.<taskId>`) → that task's address;
 * - the reverse (PTR) of a VIP → `<service>`, of a task address → `<service>.<slot>.<taskId>`;
 * - on an attachable network, a plain container's name and aliases → its address (a service's
 *   name wins), and its address's PTR → its name.
 * The map lists only endpoints that serve (running, healthy or unchecked, node ready), so
 * only those are answered. The built-in ingress network answers nothing (as in Swarm: it
 * carries the routing mesh, not service discovery).
 */

/** Seconds a VIP answer may be cached: a VIP never changes while the service lives. */
export const VIP_TTL = 5;
/** Seconds a task answer may be cached: tasks come and go, and must leave DNS within 1 s. */
export const TASK_TTL = 1;

/** What a name resolves to on one network. No addresses: the name exists, but has none now (NODATA). */
export interface DnsRecord {
  /** IPv4 addresses, without prefix length. */
  readonly addresses: readonly string[];
  /** Seconds: `VIP_TTL` or `TASK_TTL` (the smaller when records merge). */
  readonly ttl: number;
}

/** What an address's reverse name (PTR) resolves to on one network. */
export interface PointerRecord {
  readonly name: string;
  readonly ttl: number;
}

/** The names one network answers: lower-case names without trailing dot, and addresses. */
export interface NetworkNames {
  readonly names: ReadonlyMap<string, DnsRecord>;
  readonly pointers: ReadonlyMap<string, PointerRecord>;
}

/** Every network's names, by network id. */
export interface DnsTable {
  readonly networks: ReadonlyMap<string, NetworkNames>;
}

/** A table that answers nothing. */
export const EMPTY_TABLE: DnsTable = { networks: new Map() };

interface Building {
  readonly names: Map<string, { addresses: string[]; ttl: number }>;
  readonly pointers: Map<string, PointerRecord>;
}

/** Builds the table of every network's names from the map. */
export function dnsTable(map: NetworkMap): DnsTable {
  const ingress = new Set(map.networks.filter((n) => n.ingress).map((n) => n.id));
  const building = new Map<string, Building>();
  const on = (networkId: string): Building => {
    let b = building.get(networkId);
    if (!b) {
      b = { names: new Map(), pointers: new Map() };
      building.set(networkId, b);
    }
    return b;
  };

  for (const service of map.services) {
    const serviceName = normalizeName(service.name);
    for (const attachment of service.networks) {
      if (ingress.has(attachment.networkId)) continue;
      const net = on(attachment.networkId);
      const vipAddr = service.virtualIps.find((v) => v.networkId === attachment.networkId)?.addr;
      const vip = vipAddr === undefined ? undefined : stripPrefix(vipAddr);
      const tasks: { name: string; address: string }[] = [];
      for (const endpoint of service.endpoints) {
        const addr = endpoint.addresses.find((a) => a.networkId === attachment.networkId)?.addr;
        if (addr === undefined) continue;
        const address = stripPrefix(addr);
        const taskId = normalizeName(endpoint.taskId);
        const full = endpoint.slot === undefined ? `${serviceName}.${taskId}` : `${serviceName}.${endpoint.slot}.${taskId}`;
        tasks.push({ name: full, address });
        add(net, full, [address], TASK_TTL);
        if (endpoint.slot !== undefined) add(net, `${serviceName}.${taskId}`, [address], TASK_TTL);
        if (!net.pointers.has(address)) net.pointers.set(address, { name: full, ttl: TASK_TTL });
      }
      const addresses = tasks.map((t) => t.address);
      // A `vip` service without its VIP (not allocated yet) falls back to its tasks.
      const byVip = service.mode === 'vip' && vip !== undefined;
      for (const label of new Set([serviceName, ...attachment.aliases.map(normalizeName)])) {
        if (label === '') continue;
        if (byVip) add(net, label, [vip], VIP_TTL);
        else add(net, label, addresses, TASK_TTL);
        add(net, `tasks.${label}`, addresses, TASK_TTL);
      }
      // The VIP's own name wins over a task that (wrongly) had the same address.
      if (byVip) net.pointers.set(vip, { name: serviceName, ttl: VIP_TTL });
    }
  }
  // Plain containers on attachable networks: their name and aliases, as Swarm answers them;
  // a service's name wins over a container's of the same name.
  for (const network of map.networks) {
    if (ingress.has(network.id) || !network.containers?.length) continue;
    const net = on(network.id);
    const services = new Set(net.names.keys());
    for (const c of network.containers) {
      const address = stripPrefix(c.addr);
      for (const label of new Set([c.name, ...c.aliases].map(normalizeName))) {
        // Two containers with one alias share it, as under Docker.
        if (label !== '' && !services.has(label)) add(net, label, [address], TASK_TTL);
      }
      if (!net.pointers.has(address)) net.pointers.set(address, { name: normalizeName(c.name), ttl: TASK_TTL });
    }
  }
  return { networks: building };
}

/** Adds addresses to a name, merging with what another service put there (union, smaller TTL). */
function add(net: Building, name: string, addresses: readonly string[], ttl: number): void {
  const had = net.names.get(name);
  if (!had) {
    net.names.set(name, { addresses: [...addresses], ttl });
    return;
  }
  for (const a of addresses) if (!had.addresses.includes(a)) had.addresses.push(a);
  had.ttl = Math.min(had.ttl, ttl);
}

/**
 * What `name` resolves to for an asker on `networkIds`: the record of the first of those
 * networks (in that order) that knows the name, or undefined (the name is not ours for this
 * asker; another network's names are never answered).
 */
export function lookup(table: DnsTable, name: string, networkIds: readonly string[]): DnsRecord | undefined {
  const key = normalizeName(name);
  for (const id of networkIds) {
    const record = table.networks.get(id)?.names.get(key);
    if (record) return record;
  }
  return undefined;
}

/** The name of `address` (IPv4) for an asker on `networkIds`, as `lookup` finds names. */
export function lookupPointer(table: DnsTable, address: string, networkIds: readonly string[]): PointerRecord | undefined {
  for (const id of networkIds) {
    const record = table.networks.get(id)?.pointers.get(address);
    if (record) return record;
  }
  return undefined;
}

/**
 * The IPv4 address a reverse name stands for (`4.3.2.10.in-addr.arpa` → `10.2.3.4`), or
 * undefined when it is not a complete IPv4 reverse name.
 */
export function reverseAddress(name: string): string | undefined {
  const key = normalizeName(name);
  const suffix = '.in-addr.arpa';
  if (!key.endsWith(suffix)) return undefined;
  const parts = key.slice(0, -suffix.length).split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reverse().join('.');
}

/** Names compare case-insensitively, and a trailing dot (fully qualified) changes nothing. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** `10.0.3.2/16` → `10.0.3.2`. */
function stripPrefix(addr: string): string {
  const slash = addr.indexOf('/');
  return slash < 0 ? addr : addr.slice(0, slash);
}
