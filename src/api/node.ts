import { Type, type Static } from '@sinclair/typebox';
import { Labels, Meta } from './meta.ts';
import { AttachedContainer, MAX_ATTACHED_CONTAINERS } from './network.ts';

export const NodeRole = Type.Union([Type.Literal('manager'), Type.Literal('worker')]);
export type NodeRole = Static<typeof NodeRole>;

export const NodeAvailability = Type.Union([
  Type.Literal('active'),
  Type.Literal('pause'),
  Type.Literal('drain'),
]);
export type NodeAvailability = Static<typeof NodeAvailability>;

export const NodeState = Type.Union([Type.Literal('unknown'), Type.Literal('ready'), Type.Literal('down')]);
export type NodeState = Static<typeof NodeState>;

/** What the user sets on a node. */
export const NodeSpec = Type.Object({
  role: NodeRole,
  availability: NodeAvailability,
  labels: Labels,
});
export type NodeSpec = Static<typeof NodeSpec>;

/** Capacity in the units Docker uses: 1 CPU = 1e9 nanoCPUs, memory in bytes. */
export const Resources = Type.Object({
  nanoCpus: Type.Integer({ minimum: 0 }),
  memoryBytes: Type.Integer({ minimum: 0 }),
});
export type Resources = Static<typeof Resources>;

/**
 * The node's network data plane: its underlay address (the source address of its route to
 * the manager; VXLAN runs between these), the underlay MTU, whether overlays work here and
 * which kind of encryption the kernel offers (`none` on kernels without IPsec or WireGuard).
 */
export const NodeNetworkDescription = Type.Object({
  underlay: Type.Optional(Type.String()),
  mtu: Type.Integer({ minimum: 576 }),
  /** Why overlays cannot work here ("no vxlan support"); absent when they can. */
  unavailable: Type.Optional(Type.String()),
  encryption: Type.Union([Type.Literal('none'), Type.Literal('ipsec'), Type.Literal('wireguard')]),
});
export type NodeNetworkDescription = Static<typeof NodeNetworkDescription>;

/** What the agent reports about its machine when its session opens. */
export const NodeDescription = Type.Object({
  hostname: Type.String(),
  platform: Type.Object({ os: Type.String(), arch: Type.String() }),
  resources: Resources,
  /** Task drivers available on the node (`docker`, `exec`, `fake`). */
  drivers: Type.Array(Type.String()),
  engine: Type.Optional(Type.Object({ name: Type.String(), version: Type.String() })),
  /** What the node's network data plane can do; absent on agents without one. */
  network: Type.Optional(NodeNetworkDescription),
});
export type NodeDescription = Static<typeof NodeDescription>;

export const NodeStatus = Type.Object({
  state: NodeState,
  /** Address the node's session came from (or advertises). */
  addr: Type.String(),
  message: Type.String(),
  heartbeatAt: Type.Optional(Type.String({ format: 'date-time' })),
  /** Plain containers on attachable networks, as the node's agent last reported them. */
  containers: Type.Optional(Type.Array(AttachedContainer, { maxItems: MAX_ATTACHED_CONTAINERS })),
});
export type NodeStatus = Static<typeof NodeStatus>;

export const Node = Type.Composite([
  Meta,
  Type.Object({ spec: NodeSpec, description: NodeDescription, status: NodeStatus }),
]);
export type Node = Static<typeof Node>;

/** Body of `PATCH /v1/nodes/:id`: what `node update` may change. */
export const NodeUpdate = Type.Object(
  {
    version: Type.Optional(Type.Integer({ minimum: 0 })),
    availability: Type.Optional(NodeAvailability),
    role: Type.Optional(NodeRole),
    labelsAdd: Type.Optional(Labels),
    labelsRemove: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: false },
);
export type NodeUpdate = Static<typeof NodeUpdate>;

/** `GET /v1/nodes`. */
export const NodeList = Type.Array(Node);

/** Path parameter of `/v1/nodes/:idOrHostname`. */
export const NodeRef = Type.Object({ idOrHostname: Type.String({ description: 'Node id, hostname or unique id prefix.' }) });
export type NodeRef = Static<typeof NodeRef>;

/** Query of `DELETE /v1/nodes/:idOrHostname`. */
export const NodeRemoveQuery = Type.Object({ force: Type.Optional(Type.Boolean({ description: 'Remove the node even while it is ready.' })) });
export type NodeRemoveQuery = Static<typeof NodeRemoveQuery>;
