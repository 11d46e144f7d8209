import { Type, type Static } from '@sinclair/typebox';
import { Labels, Meta, NAME_PATTERN, NAME_RULE } from './meta.ts';
import { EndpointStatus, NetworkAttachmentSpec } from './network.ts';
import { DEFAULT_PUBLISH_MODE } from './published-ports.ts';

/**
 * How the agent decides a task is healthy. Exactly one probe: `test` (a command run inside the
 * task, Docker's form: `["CMD", "prog", "arg"]`, `["CMD-SHELL", "shell text"]`, or `["NONE"]`
 * to switch off the image's own HEALTHCHECK), `http` (a GET that must answer `status`, or any
 * 2xx/3xx when absent) or `tcp` (a connection that must open). Without a `healthcheck` the
 * image's own HEALTHCHECK applies (docker driver). A task with a health check counts as up —
 * for rolling updates and `depends_on: service_healthy` — only once healthy.
 */
export const Healthcheck = Type.Object(
  {
    test: Type.Optional(Type.Array(Type.String(), { minItems: 1 })),
    http: Type.Optional(
      Type.Object(
        {
          port: Type.Integer({ minimum: 1, maximum: 65_535 }),
          path: Type.String({ default: '/' }),
          status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
        },
        { additionalProperties: false },
      ),
    ),
    tcp: Type.Optional(Type.Object({ port: Type.Integer({ minimum: 1, maximum: 65_535 }) }, { additionalProperties: false })),
    intervalMs: Type.Integer({ minimum: 1, default: 30_000 }),
    timeoutMs: Type.Integer({ minimum: 1, default: 30_000 }),
    /** Consecutive failures that make the task unhealthy. */
    retries: Type.Integer({ minimum: 1, default: 3 }),
    /** Failures during this time after start do not count. */
    startPeriodMs: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false },
);
export type Healthcheck = Static<typeof Healthcheck>;

/**
 * A filesystem mounted into the task: a named `volume` (created on the node if missing, with
 * its labels), a `bind` mount of a host path, or a `tmpfs`.
 */
export const Mount = Type.Object(
  {
    type: Type.Union([Type.Literal('volume'), Type.Literal('bind'), Type.Literal('tmpfs')]),
    /** Volume name or host path; absent for tmpfs (and for an anonymous volume). */
    source: Type.Optional(Type.String({ minLength: 1 })),
    target: Type.String({ pattern: '^/', errorMessage: 'expected an absolute path inside the container' }),
    readOnly: Type.Boolean({ default: false }),
    /** Labels a volume is created with (a stack's volumes carry `com.docker.stack.namespace`). */
    volumeLabels: Type.Optional(Type.Record(Type.String(), Type.String())),
    /** Volume driver; default `local`. */
    volumeDriver: Type.Optional(Type.String()),
    tmpfsSizeBytes: Type.Optional(Type.Integer({ minimum: 0 })),
    tmpfsMode: Type.Optional(Type.Integer({ minimum: 0, maximum: 0o7777 })),
  },
  { additionalProperties: false },
);
export type Mount = Static<typeof Mount>;

/**
 * A secret or config the task receives as a file. Secrets land under `/run/secrets/` (a
 * relative `target` is taken there; default the secret's name), configs at `target` (default
 * `/<name>`); both read-only, from memory, never from the agent's disk.
 */
export const FileReference = Type.Object(
  {
    /** Id of the Secret or Config object. */
    id: Type.String({ minLength: 1 }),
    /** Its name, for messages and the default target. */
    name: Type.String({ minLength: 1 }),
    target: Type.Optional(Type.String({ minLength: 1 })),
    uid: Type.String({ default: '0' }),
    gid: Type.String({ default: '0' }),
    mode: Type.Integer({ minimum: 0, maximum: 0o777, default: 0o444 }),
  },
  { additionalProperties: false },
);
export type FileReference = Static<typeof FileReference>;

/** A resource limit (`nofile`, `nproc` …) as Docker takes it. */
export const Ulimit = Type.Object(
  { soft: Type.Integer({ minimum: -1 }), hard: Type.Integer({ minimum: -1 }) },
  { additionalProperties: false },
);
export type Ulimit = Static<typeof Ulimit>;

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
    healthcheck: Type.Optional(Healthcheck),
    hostname: Type.Optional(Type.String({ minLength: 1 })),
    /** Run an init process (tini) as PID 1 that reaps zombies and forwards signals. */
    init: Type.Boolean({ default: false }),
    mounts: Type.Array(Mount, { default: [] }),
    secrets: Type.Array(FileReference, { default: [] }),
    configs: Type.Array(FileReference, { default: [] }),
    capAdd: Type.Array(Type.String(), { default: [] }),
    capDrop: Type.Array(Type.String(), { default: [] }),
    /** `HOST:IP` entries added to /etc/hosts. */
    extraHosts: Type.Array(Type.String(), { default: [] }),
    readOnly: Type.Boolean({ default: false }),
    sysctls: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
    ulimits: Type.Object({}, { additionalProperties: Ulimit, default: {} }),
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
    /** Spread tasks evenly over the values of a node attribute (`node.labels.zone`), in order. */
    preferences: Type.Array(Type.Object({ spread: Type.String({ minLength: 1 }) }, { additionalProperties: false }), {
      default: [],
    }),
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
    /** Overlay networks the tasks join (by name or id), in order; the first is the primary one. */
    networks: Type.Array(NetworkAttachmentSpec, { default: [] }),
    /** A counter: raising it replaces every task although nothing else changed (`service update --force`). */
    forceUpdate: Type.Integer({ minimum: 0, default: 0 }),
  },
  { additionalProperties: false },
);
export type TaskTemplate = Static<typeof TaskTemplate>;

export const PortConfig = Type.Object(
  {
    /** Port inside the task. */
    target: Type.Integer({ minimum: 1, maximum: 65_535 }),
    /**
     * Port on the node. Mode `ingress` (the routing mesh): open on every node of the cluster,
     * forwarded to a healthy task on any node; unique in the cluster. Mode `host`: bound only
     * on the node that runs the task.
     */
    published: Type.Integer({ minimum: 1, maximum: 65_535 }),
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp' }),
    mode: Type.Union([Type.Literal('ingress'), Type.Literal('host')], { default: DEFAULT_PUBLISH_MODE }),
  },
  { additionalProperties: false },
);
export type PortConfig = Static<typeof PortConfig>;

export const FailureAction = Type.Union([Type.Literal('pause'), Type.Literal('continue'), Type.Literal('rollback')]);
export type FailureAction = Static<typeof FailureAction>;

/**
 * How a spec change rolls out (`updateConfig`) or back (`rollbackConfig`): `parallelism`
 * tasks at a time (0 = all at once), `delayMs` between batches, `order` stop-first (old task
 * stops before its replacement starts) or start-first (replacement up first), each new task
 * watched for `monitorMs`; when more than `maxFailureRatio` of the tasks updated fail,
 * `failureAction` applies (`rollback` is not valid in a rollbackConfig).
 */
export const UpdateConfig = Type.Object(
  {
    parallelism: Type.Integer({ minimum: 0, default: 1 }),
    delayMs: Type.Integer({ minimum: 0, default: 0 }),
    order: Type.Union([Type.Literal('stop-first'), Type.Literal('start-first')], { default: 'stop-first' }),
    failureAction: Type.Union(FailureAction.anyOf, { default: 'pause' }),
    monitorMs: Type.Integer({ minimum: 0, default: 5_000 }),
    maxFailureRatio: Type.Number({ minimum: 0, maximum: 1, default: 0 }),
  },
  { additionalProperties: false },
);
export type UpdateConfig = Static<typeof UpdateConfig>;

/** The defaults of `updateConfig` and `rollbackConfig`. */
export const DEFAULT_UPDATE_CONFIG: UpdateConfig = Object.freeze({
  parallelism: 1,
  delayMs: 0,
  order: 'stop-first',
  failureAction: 'pause',
  monitorMs: 5_000,
  maxFailureRatio: 0,
});

export const UpdateState = Type.Union([
  Type.Literal('updating'),
  Type.Literal('paused'),
  Type.Literal('completed'),
  Type.Literal('rollback_started'),
  Type.Literal('rollback_paused'),
  Type.Literal('rollback_completed'),
]);
export type UpdateState = Static<typeof UpdateState>;

/** Progress of the latest rollout of a service's spec (absent before the first update). */
export const UpdateStatus = Type.Object({
  state: UpdateState,
  startedAt: Type.String({ format: 'date-time' }),
  completedAt: Type.Optional(Type.String({ format: 'date-time' })),
  message: Type.String(),
});
export type UpdateStatus = Static<typeof UpdateStatus>;

/**
 * `replicated` and `global` services run until stopped; `replicated-job` runs `totalCompletions`
 * successful tasks, `maxConcurrent` at a time; `global-job` runs one task to completion on each
 * eligible node. A job's tasks are restarted only on failure.
 */
export const ServiceMode = Type.Union([
  Type.Literal('replicated'),
  Type.Literal('global'),
  Type.Literal('replicated-job'),
  Type.Literal('global-job'),
]);
export type ServiceMode = Static<typeof ServiceMode>;

export const DependencyCondition = Type.Union([
  Type.Literal('service_started'),
  Type.Literal('service_healthy'),
  Type.Literal('service_completed_successfully'),
]);
export type DependencyCondition = Static<typeof DependencyCondition>;

/**
 * A task of this service starts only once the named service (by name) meets `condition`: its
 * tasks run (`service_started`), run and are healthy (`service_healthy`), or — for a job —
 * completed with exit code 0 (`service_completed_successfully`). Checked on every start.
 */
export const Dependency = Type.Object(
  { service: Type.String({ minLength: 1 }), condition: Type.Union(DependencyCondition.anyOf, { default: 'service_started' }) },
  { additionalProperties: false },
);
export type Dependency = Static<typeof Dependency>;

/** What the user asks for. `POST /v1/services` takes it; defaults are filled on the server. */
export const ServiceSpec = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_RULE }),
    labels: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
    mode: Type.Union(ServiceMode.anyOf, { default: 'replicated' }),
    /** Desired task count in `replicated` mode; ignored in `global` mode. */
    replicas: Type.Integer({ minimum: 0, default: 1 }),
    /** For `replicated-job`: tasks run at once (default `replicas`) and successes wanted (default `maxConcurrent`). */
    job: Type.Optional(
      Type.Object(
        { maxConcurrent: Type.Optional(Type.Integer({ minimum: 1 })), totalCompletions: Type.Optional(Type.Integer({ minimum: 1 })) },
        { additionalProperties: false },
      ),
    ),
    dependsOn: Type.Array(Dependency, { default: [] }),
    taskTemplate: TaskTemplate,
    endpoint: Type.Object(
      {
        /** `vip`: one virtual IP for the service; `dnsrr`: DNS answers with the task IPs. */
        mode: Type.Union([Type.Literal('vip'), Type.Literal('dnsrr')], { default: 'vip' }),
        ports: Type.Array(PortConfig, { default: [] }),
      },
      { additionalProperties: false, default: {} },
    ),
    updateConfig: Type.Object(UpdateConfig.properties, { additionalProperties: false, default: {} }),
    rollbackConfig: Type.Object(UpdateConfig.properties, { additionalProperties: false, default: {} }),
  },
  { additionalProperties: false },
);
export type ServiceSpec = Static<typeof ServiceSpec>;

export const Service = Type.Composite([
  Meta,
  Type.Object({
    spec: ServiceSpec,
    /**
     * Bumped whenever what the tasks run changes (`taskTemplate`, `endpoint`, `mode`); not on
     * scaling or relabelling. Tasks record the one they were created from.
     */
    specVersion: Type.Integer({ minimum: 1 }),
    /** The spec before the latest change of what tasks run; `service rollback` returns to it. */
    previousSpec: Type.Optional(ServiceSpec),
    /** The `specVersion` that `previousSpec` had. */
    previousSpecVersion: Type.Optional(Type.Integer({ minimum: 1 })),
    updateStatus: Type.Optional(UpdateStatus),
    /** Virtual IPs the allocator gave the service on its networks; absent until allocated. */
    endpointStatus: Type.Optional(EndpointStatus),
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
