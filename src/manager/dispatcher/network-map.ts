import { createHash } from 'node:crypto';
import { containerRange, type MapContainer, type MapEndpoint, type MapNetwork, type MapService, type Network, type NetworkMap, type TaskAddress, type TaskNetwork, type VirtualIp } from '../../api/network.ts';
import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { contains, parseCidr, parseIp } from '../../lib/cidr.ts';

/**
 * Each node's network map (`NetworkMap` in `api/network.ts`), the pure core of the map push:
 * computed from a snapshot of the store, never stored. See `docs/networking.md`.
 *
 * A node's map holds the networks it has a slice of, plus the `ingress` network always, each
 * with every slice and that slice's node underlay address; and every service on one of those
 * networks or publishing a port in ingress mode, with its networks, VIPs, ingress ports and
 * serving endpoints. A service's networks, VIPs and endpoint addresses are restricted to the
 * map's networks (a node has nothing to do with a network it holds no slice of), so every
 * network id in a map names one of its `networks`. Everything is sorted (by id, then by the
 * natural key), so two maps of the same state are equal, and `mapFingerprint` compares them.
 */

/** What the maps are computed from: one consistent read of the store. */
export interface NetworkMapSnapshot {
  readonly networks: readonly Network[];
  readonly services: readonly Service[];
  /** The tasks of a service (any state). */
  tasksOf(serviceId: string): readonly Task[];
  node(nodeId: string): Node | undefined;
}

/**
 * Whether a task serves traffic (is an endpoint of its service): running and meant to run,
 * healthy or without a health check, on a `ready` node, with an address on some network.
 * A starting, unhealthy or stopping task, or one on a down node, is not.
 */
export function isServingEndpoint(task: Task, node: Node | undefined): boolean {
  const health = task.status.health;
  return (
    task.status.state === 'running' &&
    task.desiredState === 'running' &&
    (health === undefined || health === 'healthy') &&
    node !== undefined &&
    task.nodeId === node.id &&
    node.status.state === 'ready' &&
    (task.status.networks?.length ?? 0) > 0
  );
}

/** One node's map; see `networkMapsFor`. */
export function networkMapFor(nodeId: string, snapshot: NetworkMapSnapshot, revision: number): NetworkMap {
  const map = networkMapsFor([nodeId], snapshot, revision).get(nodeId);
  if (!map) throw new Error(`no network map computed for node ${nodeId}`);
  return map;
}

/**
 * The maps of several nodes from one snapshot, at store revision `revision`. What nodes share
 * is built once: each network's and service's part, and the lists of nodes that hold the same
 * networks (the same array objects in each of their maps), so `mapFingerprint` and
 * `encodeNetworkMapMessage` do the work once per distinct content, not once per node.
 */
export function networkMapsFor(nodeIds: Iterable<string>, snapshot: NetworkMapSnapshot, revision: number): Map<string, NetworkMap> {
  const networks = [...snapshot.networks].sort(byKey((n) => n.id));
  const byId = new Map(networks.map((n) => [n.id, n]));
  const byName = new Map(networks.map((n) => [n.spec.name, n]));
  const ingress = networks.find((n) => n.ingress);

  const mapNetworks = new Map<string, MapNetwork>();
  const mapNetwork = (n: Network): MapNetwork => {
    let m = mapNetworks.get(n.id);
    if (!m) {
      m = toMapNetwork(n, snapshot);
      mapNetworks.set(n.id, m);
    }
    return m;
  };

  const entries: ServiceEntry[] = [];
  for (const s of [...snapshot.services].sort(byKey((x) => x.id))) {
    const e = serviceEntry(s, snapshot, byId, byName, ingress);
    if (e) entries.push(e);
  }

  const held = new Map<string, Set<string>>();
  for (const n of networks) {
    for (const sl of n.slices) {
      let ids = held.get(sl.nodeId);
      if (!ids) held.set(sl.nodeId, (ids = new Set()));
      ids.add(n.id);
    }
  }

  /** Services' parts cut down to some networks, by service id and the networks kept. */
  const restricted = new Map<string, MapService>();
  const partFor = (e: ServiceEntry, ids: ReadonlySet<string>): MapService => {
    const kept = e.touches.filter((id) => ids.has(id));
    if (kept.length === e.touches.length) return e.service;
    const key = `${e.service.id} ${kept.join(' ')}`;
    let part = restricted.get(key);
    if (!part) {
      part = restrict(e.service, ids);
      restricted.set(key, part);
    }
    return part;
  };

  /** Map content by the ids of the networks it holds: nodes on the same networks see the same. */
  const contents = new Map<string, Pick<NetworkMap, 'networks' | 'services'>>();
  const maps = new Map<string, NetworkMap>();
  for (const nodeId of nodeIds) {
    const slices = held.get(nodeId);
    const mine = networks.filter((n) => n.ingress || slices?.has(n.id));
    const key = mine.map((n) => n.id).join(' ');
    let content = contents.get(key);
    if (!content) {
      const ids = new Set(mine.map((n) => n.id));
      const services: MapService[] = [];
      for (const e of entries) {
        if (!e.publishesIngress && !e.onNetworks.some((id) => ids.has(id))) continue;
        services.push(partFor(e, ids));
      }
      content = { networks: mine.map(mapNetwork), services };
      contents.set(key, content);
    }
    maps.set(nodeId, { revision, ...content });
  }
  return maps;
}

const texts = new WeakMap<object, string>();
const digests = new WeakMap<object, string>();

/**
 * A digest of the map's content without `revision`: equal for equal maps (their parts are
 * sorted), different otherwise. Cached per part and per list: maps of one `networkMapsFor`
 * share the work on the parts and lists they share. The map's lists and parts must not be
 * changed after it is taken.
 */
export function mapFingerprint(map: NetworkMap): string {
  return `${digestOf(map.networks)}${digestOf(map.services)}`;
}

/**
 * The `network-map` message carrying `map`, as `encodeMessage` would encode it, reusing the
 * text of lists (and parts) already encoded for another node's map.
 */
export function encodeNetworkMapMessage(map: NetworkMap): string {
  return `{"type":"network-map","map":{"revision":${JSON.stringify(map.revision)},"networks":${listText(map.networks)},"services":${listText(map.services)}}}`;
}

function digestOf(list: readonly object[]): string {
  let d = digests.get(list);
  if (d === undefined) {
    // From the parts' digests: far less to hash than the list's text, and shared by lists.
    d = sha256(list.map(partDigest).join(''));
    digests.set(list, d);
  }
  return d;
}

function partDigest(o: object): string {
  let d = digests.get(o);
  if (d === undefined) {
    d = sha256(partText(o));
    digests.set(o, d);
  }
  return d;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

function listText(list: readonly object[]): string {
  let t = texts.get(list);
  if (t === undefined) {
    t = `[${list.map(partText).join(',')}]`;
    texts.set(list, t);
  }
  return t;
}

function partText(o: object): string {
  let t = texts.get(o);
  if (t === undefined) {
    t = JSON.stringify(o);
    texts.set(o, t);
  }
  return t;
}

// ---- what changes a map (the watch filter) ----

/** Whether a task change can change a map: only tasks that are (or were) endpoint material. */
export function taskAffectsMaps(old: Task | undefined, next: Task | undefined): boolean {
  const a = old && endpointCandidate(old);
  const b = next && endpointCandidate(next);
  if (!a && !b) return false;
  if (!a || !b || !old || !next) return true;
  return (
    old.nodeId !== next.nodeId ||
    old.slot !== next.slot ||
    old.serviceId !== next.serviceId ||
    !sameJson(old.status.networks, next.status.networks) ||
    !sameJson(old.networks, next.networks)
  );
}

/** Whether a service change can change a map: its name, endpoint, networks or VIPs. */
export function serviceAffectsMaps(old: Service | undefined, next: Service | undefined): boolean {
  if (!old || !next) return true;
  return (
    old.spec.name !== next.spec.name ||
    !sameJson(old.spec.endpoint, next.spec.endpoint) ||
    !sameJson(old.spec.taskTemplate.networks, next.spec.taskTemplate.networks) ||
    !sameJson(old.endpointStatus, next.endpointStatus)
  );
}

/**
 * Whether a node change can change a map: its state (endpoints), its underlay address
 * (slices) or the plain containers it reports.
 */
export function nodeAffectsMaps(old: Node | undefined, next: Node | undefined): boolean {
  if (!old || !next) return true;
  return (
    old.status.state !== next.status.state ||
    old.description.network?.underlay !== next.description.network?.underlay ||
    !sameJson(old.status.containers ?? [], next.status.containers ?? [])
  );
}

/** `isServingEndpoint` without the node: the part a task change alone can change. */
function endpointCandidate(t: Task): boolean {
  return (
    t.status.state === 'running' &&
    t.desiredState === 'running' &&
    (t.status.health === undefined || t.status.health === 'healthy') &&
    (t.status.networks?.length ?? 0) > 0
  );
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

// ---- building the parts ----

interface ServiceEntry {
  /** The service's part with every network it touches. */
  readonly service: MapService;
  /** The networks it is on (`service.networks`). */
  readonly onNetworks: readonly string[];
  /** Every network id the part names (networks, VIPs, endpoint addresses). */
  readonly touches: readonly string[];
  readonly publishesIngress: boolean;
}

function toMapNetwork(n: Network, snapshot: NetworkMapSnapshot): MapNetwork {
  const slices = [...n.slices].sort(byKey((s) => s.nodeId)).map((s) => {
    const underlay = snapshot.node(s.nodeId)?.description.network?.underlay;
    // An agent reports its underlay: only a plain IPv4 address goes into other nodes' kernels.
    const valid = underlay !== undefined && parseIp(underlay) !== undefined;
    return { nodeId: s.nodeId, subnet: s.subnet, ...(valid ? { underlay } : {}) };
  });
  const containers = n.spec.attachable && !n.ingress ? attachedContainers(n, snapshot) : [];
  return {
    id: n.id,
    name: n.spec.name,
    subnet: n.subnet,
    vni: n.vni,
    internal: n.spec.internal,
    encrypted: n.spec.encrypted,
    ingress: n.ingress,
    ...(n.spec.attachable && !n.ingress ? { attachable: true } : {}),
    ...(containers.length > 0 ? { containers } : {}),
    slices,
  };
}

/**
 * The plain containers of an attachable network: those the agents of ready nodes holding a
 * slice report on it, each address IPv4 with the range's prefix and inside the `containerRange`
 * of its own node's slice (an agent can only name addresses of its own slice, as for tasks);
 * anything else is left out rather than answered by DNS.
 */
function attachedContainers(n: Network, snapshot: NetworkMapSnapshot): MapContainer[] {
  const range = parseCidr(n.subnet);
  if (!range.ok) return [];
  const out: MapContainer[] = [];
  for (const sl of n.slices) {
    const node = snapshot.node(sl.nodeId);
    if (node?.status.state !== 'ready' || !node.status.containers) continue;
    const mine = parseCidr(containerRange(sl.subnet));
    if (!mine.ok) continue;
    for (const c of node.status.containers) {
      if (c.networkId !== n.id) continue;
      const [ip, prefix, ...rest] = c.addr.split('/');
      const addr = parseIp(ip ?? '');
      if (rest.length > 0 || addr === undefined || prefix !== String(range.cidr.prefix) || !contains(mine.cidr, addr)) continue;
      out.push({ nodeId: sl.nodeId, containerId: c.containerId, name: c.name, aliases: [...c.aliases].sort(), addr: c.addr });
    }
  }
  return out.sort((a, b) => cmp(a.nodeId, b.nodeId) || cmp(a.name, b.name) || cmp(a.containerId, b.containerId));
}

/**
 * A service's part, or undefined when it is on no network and publishes no ingress port (it is
 * in no map). Its networks: those its spec names (resolved by id, then name; aliases from the
 * spec), those its serving tasks are on (a rolling update may leave old tasks on a network the
 * spec dropped), and `ingress` when it publishes a port there.
 */
function serviceEntry(
  s: Service,
  snapshot: NetworkMapSnapshot,
  byId: ReadonlyMap<string, Network>,
  byName: ReadonlyMap<string, Network>,
  ingress: Network | undefined,
): ServiceEntry | undefined {
  const ingressPorts = s.spec.endpoint.ports
    .filter((p) => p.mode === 'ingress')
    .map((p) => ({ published: p.published, target: p.target, protocol: p.protocol }))
    .sort((a, b) => a.published - b.published || cmp(a.protocol, b.protocol) || a.target - b.target);
  const publishesIngress = ingressPorts.length > 0;

  const nets = new Map<string, TaskNetwork>();
  for (const a of s.spec.taskTemplate.networks) {
    const n = byId.get(a.target) ?? byName.get(a.target);
    if (n && !nets.has(n.id)) nets.set(n.id, { networkId: n.id, name: n.spec.name, aliases: [...a.aliases] });
  }

  const endpoints: MapEndpoint[] = [];
  for (const t of snapshot.tasksOf(s.id)) {
    if (t.serviceId !== s.id || !t.nodeId || !isServingEndpoint(t, snapshot.node(t.nodeId))) continue;
    for (const tn of t.networks ?? []) {
      const n = byId.get(tn.networkId);
      if (n && !nets.has(n.id)) nets.set(n.id, { networkId: n.id, name: n.spec.name, aliases: [...tn.aliases] });
    }
    const addresses = sortAddresses(trustedAddresses(t, t.nodeId, byId));
    if (addresses.length === 0) continue;
    endpoints.push({ taskId: t.id, nodeId: t.nodeId, ...(t.slot === undefined ? {} : { slot: t.slot }), addresses });
  }
  if (publishesIngress && ingress && !nets.has(ingress.id)) nets.set(ingress.id, { networkId: ingress.id, name: ingress.spec.name, aliases: [] });
  if (nets.size === 0 && !publishesIngress) return undefined;

  endpoints.sort(byKey((e) => e.taskId));
  const networks = [...nets.values()].sort(byKey((n) => n.networkId));
  const virtualIps = sortAddresses(s.endpointStatus?.virtualIps ?? []);
  const touches = new Set(networks.map((n) => n.networkId));
  for (const v of virtualIps) touches.add(v.networkId);
  for (const e of endpoints) for (const a of e.addresses) touches.add(a.networkId);
  return {
    service: { id: s.id, name: s.spec.name, mode: s.spec.endpoint.mode, networks, virtualIps, ingressPorts, endpoints },
    onNetworks: networks.map((n) => n.networkId),
    touches: [...touches],
    publishesIngress,
  };
}

/** The part without what lies outside the node's networks; endpoints left with no address go. */
function restrict(s: MapService, ids: ReadonlySet<string>): MapService {
  const endpoints: MapEndpoint[] = [];
  for (const e of s.endpoints) {
    const addresses = e.addresses.filter((a) => ids.has(a.networkId));
    if (addresses.length > 0) endpoints.push({ ...e, addresses });
  }
  return {
    ...s,
    networks: s.networks.filter((n) => ids.has(n.networkId)),
    virtualIps: s.virtualIps.filter((v) => ids.has(v.networkId)),
    endpoints,
  };
}

/**
 * The addresses a task's agent reported that the map may carry into every node's rules: on a
 * network the task was allocated, IPv4 with the network's prefix, inside the slice its node
 * holds. Anything else (a buggy or hostile agent) is left out rather than programmed.
 */
function trustedAddresses(t: Task, nodeId: string, byId: ReadonlyMap<string, Network>): TaskAddress[] {
  const allocated = new Set((t.networks ?? []).map((n) => n.networkId));
  const out: TaskAddress[] = [];
  for (const a of t.status.networks ?? []) {
    const n = byId.get(a.networkId);
    const slice = n?.slices.find((x) => x.nodeId === nodeId)?.subnet;
    if (!n || !allocated.has(a.networkId) || slice === undefined) continue;
    const [ip, prefix, ...rest] = a.addr.split('/');
    const addr = parseIp(ip ?? '');
    const range = parseCidr(n.subnet);
    const sliceRange = parseCidr(slice);
    if (rest.length > 0 || addr === undefined || !range.ok || !sliceRange.ok || prefix !== String(range.cidr.prefix) || !contains(sliceRange.cidr, addr)) continue;
    out.push(a);
  }
  return out;
}

function sortAddresses<T extends TaskAddress | VirtualIp>(list: readonly T[]): T[] {
  return list.map((a) => ({ networkId: a.networkId, addr: a.addr }) as T).sort((a, b) => cmp(a.networkId, b.networkId) || cmp(a.addr, b.addr));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byKey<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => cmp(key(a), key(b));
}
