import { Type, type Static } from '@sinclair/typebox';
import { Labels, Meta, NAME_PATTERN } from './meta.ts';

/** The process a task runs. Durations are milliseconds. */
export const ContainerSpec = Type.Object(
  {
    /** Image reference; required by the `docker` driver, ignored by `exec`. */
    image: Type.Optional(Type.String({ minLength: 1 })),
    /** Replaces the image's entrypoint (docker) or is the program and its leading arguments (exec). */
    command: Type.Optional(Type.Array(Type.String())),
    /** Replaces the image's CMD (docker) or is appended to `command` (exec). */
    args: Type.Optional(Type.Array(Type.String())),
    /** `KEY=VALUE` entries. */
    env: Type.Array(Type.String(), { default: [] }),
    labels: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
    workdir: Type.Optional(Type.String()),
    user: Type.Optional(Type.String()),
    stopSignal: Type.String({ default: 'SIGTERM' }),
    stopGracePeriodMs: Type.Integer({ minimum: 0, default: 10_000 }),
  },
  { additionalProperties: false },
);
export type ContainerSpec = Static<typeof ContainerSpec>;

const ResourceAmounts = Type.Object(
  {
    nanoCpus: Type.Integer({ minimum: 0, default: 0, description: '1 CPU = 1e9; 0 = none' }),
    memoryBytes: Type.Integer({ minimum: 0, default: 0, description: '0 = none' }),
  },
  { additionalProperties: false },
);
export const ResourceRequirements = Type.Object(
  {
    limits: Type.Object(ResourceAmounts.properties, { additionalProperties: false, default: {} }),
    reservations: Type.Object(ResourceAmounts.properties, { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
);
export type ResourceRequirements = Static<typeof ResourceRequirements>;

export const RestartCondition = Type.Union([
  Type.Literal('none'),
  Type.Literal('on-failure'),
  Type.Literal('any'),
]);
export type RestartCondition = Static<typeof RestartCondition>;

export const RestartPolicy = Type.Object(
  {
    condition: Type.Union(RestartCondition.anyOf, { default: 'any' }),
    /** Delay before the first restart; later restarts of a failing slot back off from it. */
    delayMs: Type.Integer({ minimum: 0, default: 5_000 }),
    /** 0 = unlimited. */
    maxAttempts: Type.Integer({ minimum: 0, default: 0 }),
    /** Window in which `maxAttempts` is counted; 0 = since the service was created. */
    windowMs: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false },
);
export type RestartPolicy = Static<typeof RestartPolicy>;

export const Placement = Type.Object(
  {
    /** `node.id|node.hostname|node.role|node.labels.KEY` `==|!=` value. */
    constraints: Type.Array(Type.String(), { default: [] }),
    /** 0 = unlimited. */
    maxReplicasPerNode: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false },
);
export type Placement = Static<typeof Placement>;

export const Driver = Type.Union([Type.Literal('docker'), Type.Literal('exec'), Type.Literal('fake')]);
export type Driver = Static<typeof Driver>;

/** What each task of the service runs, and where. */
export const TaskTemplate = Type.Object(
  {
    driver: Type.Union(Driver.anyOf, { default: 'docker' }),
    container: ContainerSpec,
    resources: Type.Object(ResourceRequirements.properties, { additionalProperties: false, default: {} }),
    restartPolicy: Type.Object(RestartPolicy.properties, { additionalProperties: false, default: {} }),
    placement: Type.Object(Placement.properties, { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
);
export type TaskTemplate = Static<typeof TaskTemplate>;

export const PortConfig = Type.Object(
  {
    /** Port inside the task. */
    target: Type.Integer({ minimum: 1, maximum: 65_535 }),
    /** Port on the node; with mode `host` it is bound on the node that runs the task. */
    published: Type.Integer({ minimum: 1, maximum: 65_535 }),
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp' }),
    mode: Type.Union([Type.Literal('host')], { default: 'host' }),
  },
  { additionalProperties: false },
);
export type PortConfig = Static<typeof PortConfig>;

export const ServiceMode = Type.Union([Type.Literal('replicated'), Type.Literal('global')]);
export type ServiceMode = Static<typeof ServiceMode>;

/** What the user asks for. `POST /v1/services` takes it; defaults are filled on the server. */
export const ServiceSpec = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN }),
    labels: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
    mode: Type.Union(ServiceMode.anyOf, { default: 'replicated' }),
    /** Desired task count in `replicated` mode; ignored in `global` mode. */
    replicas: Type.Integer({ minimum: 0, default: 1 }),
    taskTemplate: TaskTemplate,
    endpoint: Type.Object(
      { ports: Type.Array(PortConfig, { default: [] }) },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);
export type ServiceSpec = Static<typeof ServiceSpec>;

export const Service = Type.Composite([
  Meta,
  Type.Object({
    spec: ServiceSpec,
    /** Bumped whenever `spec` changes (not on other writes); tasks record the one they ran. */
    specVersion: Type.Integer({ minimum: 1 }),
  }),
]);
export type Service = Static<typeof Service>;

/** Labels a service's tasks and containers carry, so they can be found after a restart. */
export const TASK_LABELS = {
  serviceId: 'flotilla.service.id',
  serviceName: 'flotilla.service.name',
  taskId: 'flotilla.task.id',
  nodeId: 'flotilla.node.id',
  slot: 'flotilla.task.slot',
} as const;

export { Labels };
