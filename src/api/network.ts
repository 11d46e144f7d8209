import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { cidr, formatCidr, subrange } from '../lib/cidr.ts';
import { Meta, NAME_PATTERN, NAME_RULE } from './meta.ts';

/**
 * Overlay networks (design: `docs/networking.md`). A network has a range (`subnet`, a /16 from
 * the default pool unless given) and a VXLAN id (`vni`), both chosen once when it is created.
 * Each node that runs a task on it gets a **slice** of the range (a /24 of a /16; the
 * allocator writes `slices`); the first slice (index 0) is the network's **VIP block**. In
 * every slice `.0` is the node's VXLAN endpoint address on the network, `.1` the gateway (the
 * node's bridge, which also answers DNS), the last address is kept, and the agent gives tasks
 * the addresses between.
 */

/** Where networks without a `subnet` get theirs, and the length they get. */
export const DEFAULT_ADDRESS_POOL = '10.0.0.0/8';
export const DEFAULT_NETWORK_PREFIX = 16;
/** The range of the built-in `ingress` network. */
export const INGRESS_SUBNET = '10.0.0.0/16';
/** VXLAN ids start here, clear of Docker overlay's (4096 up). */
export const VNI_BASE = 0x100000;
/** Shortest and longest prefix a network's range may have. */
export const MIN_NETWORK_PREFIX = 8;
export const MAX_NETWORK_PREFIX = 24;

/**
 * The prefix length of a node's slice of a network with range prefix `prefix`: a /24 (256
 * slices of a /16), or 16 slices of smaller networks (a /24 has /28 slices).
 */
export function sliceLength(prefix: number): number {
  return Math.max(24, prefix + 4);
}

/**
 * The part of a node's slice of an **attachable** network that Docker's own IPAM hands to plain
 * containers (`docker run --network NAME`): the slice's last quarter (`10.1.3.192/26` of
 * `10.1.3.0/24`, `10.9.0.28/30` of `10.9.0.16/28`). The agent never gives a task an address in
 * it, so the two never collide. Non-attachable networks keep the whole slice for tasks.
 */
export function containerRange(slice: string): string {
  const s = cidr(slice);
  return formatCidr(subrange(s, s.prefix + 2, 3));
}

/** The name of the built-in network that carries the routing mesh (ports in `ingress` mode). */
export const INGRESS_NETWORK = 'ingress';

/** What the user asks for. `POST /v1/networks` takes it; defaults are filled on the server. */
export const NetworkSpec = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_RULE }),
    labels: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
    driver: Type.Union([Type.Literal('overlay')], { default: 'overlay' }),
    /** Tasks on it reach only each other: no route out of the cluster. */
    internal: Type.Boolean({ default: false }),
    /** Plain containers (`docker run --network`) may join it, as under Swarm. */
    attachable: Type.Boolean({ default: false }),
    /** Traffic between nodes is encrypted; tasks go only to nodes that can encrypt. */
    encrypted: Type.Boolean({ default: false }),
    /** The network's range (IPv4 CIDR, /8 to /24); absent: the next free /16 of the default pool. */
    subnet: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);
export type NetworkSpec = Static<typeof NetworkSpec>;

/** The part of a network a node holds: its slice of the range. */
export const NetworkSlice = Type.Object({
  nodeId: Type.String({ minLength: 1 }),
  /** The slice, as CIDR (`10.0.3.0/24`). */
  subnet: Type.String(),
});
export type NetworkSlice = Static<typeof NetworkSlice>;

export const Network = Type.Composite([
  Meta,
  Type.Object({
    spec: NetworkSpec,
    /** The range in use: `spec.subnet` or the one allocated from the pool at creation. */
    subnet: Type.String(),
    /** VXLAN network identifier (from 0x100000, clear of Docker's overlay VNIs). */
    vni: Type.Integer({ minimum: 1, maximum: 0xffffff }),
    /** True only for the built-in `ingress` network (created by the manager, never removed). */
    ingress: Type.Boolean(),
    /** Nodes' slices of the range; written by the allocator only. */
    slices: Type.Array(NetworkSlice),
  }),
]);
export type Network = Static<typeof Network>;

/** `POST /v1/networks`. */
export const NetworkCreate = Type.Object({ spec: NetworkSpec }, { additionalProperties: false });
export type NetworkCreate = Static<typeof NetworkCreate>;

/** `GET /v1/networks`. */
export const NetworkList = Type.Array(Network);

/** Path parameter of `/v1/networks/:idOrName`. */
export const NetworkRef = Type.Object({ idOrName: Type.String({ description: 'Id, name or unique id prefix.' }) });
export type NetworkRef = Static<typeof NetworkRef>;

/**
 * A service's (or task's) membership of a network, as the spec names it: `target` is the
 * network's name or id; `aliases` are more DNS names the service answers to on that network
 * (a stack's service gets its compose name, `db`, as an alias on each of its networks).
 */
export const NetworkAttachmentSpec = Type.Object(
  {
    target: Type.String({ minLength: 1 }),
    aliases: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
  },
  { additionalProperties: false },
);
export type NetworkAttachmentSpec = Static<typeof NetworkAttachmentSpec>;

/**
 * A task's membership of a network, resolved by the allocator: the network's id and name and
 * the aliases. The task's address on it is in `status.networks` (the agent picks it).
 */
export const TaskNetwork = Type.Object({
  networkId: Type.String(),
  name: Type.String(),
  aliases: Type.Array(Type.String()),
});
export type TaskNetwork = Static<typeof TaskNetwork>;

/** A task's address on one network, as its agent reports it. */
export const TaskAddress = Type.Object({
  networkId: Type.String(),
  /** IPv4 address with the network's prefix length (`10.0.3.2/16`). */
  addr: Type.String(),
});
export type TaskAddress = Static<typeof TaskAddress>;

/** A service's virtual IP on one network (endpoint mode `vip`); written by the allocator. */
export const VirtualIp = Type.Object({
  networkId: Type.String(),
  /** IPv4 address with the network's prefix length (`10.0.0.2/16`). */
  addr: Type.String(),
});
export type VirtualIp = Static<typeof VirtualIp>;

/**
 * What the allocator resolved for a service's endpoint: a VIP on each network it is on
 * (`ingress` included when it publishes ports in ingress mode), and the `specVersion` it was
 * resolved for, so a change of networks or ports is noticed.
 */
export const EndpointStatus = Type.Object({
  specVersion: Type.Integer({ minimum: 1 }),
  virtualIps: Type.Array(VirtualIp),
});
export type EndpointStatus = Static<typeof EndpointStatus>;

/**
 * What one node needs to program its network data plane and answer DNS: pushed by the
 * dispatcher to each agent (`network-map` message) whenever it changes, in full (the agent
 * diffs). `revision` is the store revision it was computed at; a map never goes backwards.
 *
 * A node gets every network it holds a slice of (plus `ingress`), with every slice of those
 * networks; every service on one of those networks, and every service that publishes a port
 * in ingress mode. A service's networks, VIPs and endpoint addresses are restricted to the
 * map's networks: every network id in a map names one of its `networks`. Lists are sorted (by
 * id, endpoints by task id), so equal states give equal maps.
 */
/**
 * A plain container (not a task: `docker run --network NAME`) on an attachable network, as
 * the agent of its node reports it. Tasks of the network reach it by its name and aliases.
 */
export const AttachedContainer = Type.Object({
  networkId: Type.String({ minLength: 1, maxLength: 64, pattern: '^[a-zA-Z0-9_.-]+$' }),
  /** Docker's container id. */
  containerId: Type.String({ minLength: 1, maxLength: 128 }),
  /** The container's name (without Docker's leading `/`). */
  name: Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$' }),
  /** Its network aliases there (`--network-alias`), as names. */
  aliases: Type.Array(Type.String({ pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$' }), { maxItems: 32 }),
  /** IPv4 address with the network's prefix length (`10.1.3.194/16`). */
  addr: Type.String({ maxLength: 18, pattern: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}$' }),
});
export type AttachedContainer = Static<typeof AttachedContainer>;

/** The most plain containers one node reports (the agent cuts its set there, the manager too). */
export const MAX_ATTACHED_CONTAINERS = 4096;

const attachedContainerCheck = TypeCompiler.Compile(AttachedContainer);

/** Whether `c` is an `AttachedContainer` as the schema has it (a name Docker allows may not be one). */
export function isAttachedContainer(c: unknown): c is AttachedContainer {
  return attachedContainerCheck.Check(c);
}

/** The order plain containers are kept in (by network, then container); 0 only for the same pair. */
export function compareAttachedContainers(a: AttachedContainer, b: AttachedContainer): number {
  if (a.networkId !== b.networkId) return a.networkId < b.networkId ? -1 : 1;
  if (a.containerId !== b.containerId) return a.containerId < b.containerId ? -1 : 1;
  return 0;
}

/**
 * The entries of a node's report that are `AttachedContainer`s, at most `MAX_ATTACHED_CONTAINERS`,
 * and how many were left out: what a user named a container must never cost the node its session.
 */
export function validAttachedContainers(list: readonly unknown[]): { kept: AttachedContainer[]; dropped: number } {
  const kept: AttachedContainer[] = [];
  for (const c of list) {
    if (kept.length >= MAX_ATTACHED_CONTAINERS) break;
    if (isAttachedContainer(c)) kept.push(c);
  }
  return { kept, dropped: list.length - kept.length };
}

/** An `AttachedContainer` in a map: with its node. */
export const MapContainer = Type.Object({
  nodeId: Type.String(),
  containerId: Type.String(),
  name: Type.String(),
  aliases: Type.Array(Type.String()),
  addr: Type.String(),
});
export type MapContainer = Static<typeof MapContainer>;

export const MapNetwork = Type.Object({
  id: Type.String(),
  name: Type.String(),
  subnet: Type.String(),
  vni: Type.Integer(),
  internal: Type.Boolean(),
  encrypted: Type.Boolean(),
  ingress: Type.Boolean(),
  /** Plain containers may join it (`containerRange` of each slice is Docker's); absent: false. */
  attachable: Type.Optional(Type.Boolean()),
  /**
   * The plain containers on it (attachable networks only), on ready nodes, each address inside
   * its node's `containerRange`; sorted by node, then name. Absent: none.
   */
  containers: Type.Optional(Type.Array(MapContainer)),
  /** Every node's slice, with that node's underlay address (its VXLAN endpoint). */
  slices: Type.Array(
    Type.Object({
      nodeId: Type.String(),
      subnet: Type.String(),
      /** The node's underlay IPv4 address; absent while unknown (the node is then left out of the overlay). */
      underlay: Type.Optional(Type.String()),
    }),
  ),
});
export type MapNetwork = Static<typeof MapNetwork>;

/** A task that serves traffic: running, wanted running, healthy (or without a check), node ready. */
export const MapEndpoint = Type.Object({
  taskId: Type.String(),
  nodeId: Type.String(),
  /** Replica slot, for `<service>.<slot>.<taskId>` names. */
  slot: Type.Optional(Type.Integer()),
  /** Its address on each network it is on (`TaskAddress.addr`). */
  addresses: Type.Array(TaskAddress),
});
export type MapEndpoint = Static<typeof MapEndpoint>;

export const MapService = Type.Object({
  id: Type.String(),
  name: Type.String(),
  mode: Type.Union([Type.Literal('vip'), Type.Literal('dnsrr')]),
  /** The networks it is on, with its aliases there. */
  networks: Type.Array(TaskNetwork),
  virtualIps: Type.Array(VirtualIp),
  /** Ports published in `ingress` mode (the routing mesh). */
  ingressPorts: Type.Array(
    Type.Object({ published: Type.Integer(), target: Type.Integer(), protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]) }),
  ),
  /**
   * The tasks that serve it. A VIP forwards every port to the same port of an endpoint (as
   * Swarm's VIPs do); `ingressPorts` map published → target.
   */
  endpoints: Type.Array(MapEndpoint),
});
export type MapService = Static<typeof MapService>;

export const NetworkMap = Type.Object({
  revision: Type.Integer({ minimum: 0 }),
  networks: Type.Array(MapNetwork),
  services: Type.Array(MapService),
});
export type NetworkMap = Static<typeof NetworkMap>;
