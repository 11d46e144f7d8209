import type { Schema } from './validate.ts';

/**
 * The Compose Specification as Flotilla reads it. Every key the specification defines is
 * known (so a valid file is never rejected for a key Flotilla merely does not use); the
 * fields Flotilla acts on are typed in detail, the rest are accepted as written and reported
 * by the converter as not supported.
 */

const str: Schema = { t: 'string' };
const scalar: Schema = { t: 'scalar' };
const int: Schema = { t: 'int' };
const uint: Schema = { t: 'int', min: 0 };
const bool: Schema = { t: 'bool' };
const duration: Schema = { t: 'duration' };
const any: Schema = { t: 'any' };
const nul: Schema = { t: 'null' };
const strings: Schema = { t: 'list', items: str };
const obj = (fields: Record<string, Schema>, more: { required?: string[]; what?: string } = {}): Schema => ({ t: 'object', fields, extensions: true, ...more });
const either = (...options: Schema[]): Schema => ({ t: 'either', options });
const oneOf = (...values: string[]): Schema => ({ t: 'enum', values });
const map = (values: Schema): Schema => ({ t: 'map', values });

const NAME: RegExp = /^[a-zA-Z0-9._-]+$/;
const NAME_RULE = 'expected letters, digits, ".", "_" and "-"';
const named = (values: Schema): Schema => ({ t: 'map', values, keyPattern: NAME, keyRule: NAME_RULE });

/** `[KEY=VAL, …]` (no entry twice, as the specification's schema says) or `{KEY: VAL}`; values may be null (take from the environment / unset). */
const listOrDict: Schema = either({ t: 'list', items: scalar, unique: true }, map(either(scalar, nul)));
const stringOrList: Schema = either(str, strings, nul);

const resources: Schema = obj({ cpus: { t: 'cpus' }, memory: { t: 'bytes' }, pids: int, generic_resources: any, devices: any });

const updateConfig: Schema = obj({
  parallelism: uint,
  delay: duration,
  failure_action: oneOf('continue', 'rollback', 'pause'),
  monitor: duration,
  max_failure_ratio: { t: 'number', min: 0, max: 1 },
  order: oneOf('stop-first', 'start-first'),
});

const deploy: Schema = obj({
  mode: oneOf('replicated', 'global', 'replicated-job', 'global-job'),
  replicas: uint,
  labels: listOrDict,
  endpoint_mode: oneOf('vip', 'dnsrr'),
  resources: obj({ limits: resources, reservations: resources }),
  restart_policy: obj({ condition: oneOf('none', 'on-failure', 'any'), delay: duration, max_attempts: uint, window: duration }),
  placement: obj({ constraints: strings, preferences: { t: 'list', items: obj({ spread: str }) }, max_replicas_per_node: uint }),
  update_config: updateConfig,
  rollback_config: updateConfig,
});

const fileRef: Schema = either(str, obj({ source: str, target: str, uid: scalar, gid: scalar, mode: scalar }, { required: ['source'] }));

const healthcheck: Schema = obj({
  test: either(str, strings),
  interval: duration,
  timeout: duration,
  start_period: duration,
  start_interval: duration,
  retries: uint,
  disable: bool,
});

const port: Schema = either(
  { t: 'int', min: 1, max: 65_535 },
  str,
  obj({ name: str, target: { t: 'int', min: 1, max: 65_535 }, published: scalar, host_ip: str, protocol: str, app_protocol: str, mode: oneOf('host', 'ingress') }, { required: ['target'] }),
);

const volumeMount: Schema = either(
  str,
  obj(
    {
      type: oneOf('volume', 'bind', 'tmpfs', 'npipe', 'cluster', 'image'),
      source: str,
      target: str,
      read_only: bool,
      consistency: str,
      bind: obj({ propagation: str, create_host_path: bool, selinux: str }),
      volume: obj({ nocopy: bool, subpath: str }),
      tmpfs: obj({ size: { t: 'bytes' }, mode: scalar }),
      image: obj({ subpath: str }),
    },
    { required: ['type', 'target'] },
  ),
);

const typedServiceFields: Record<string, Schema> = {
  image: str,
  command: stringOrList,
  entrypoint: stringOrList,
  environment: listOrDict,
  env_file: either(str, { t: 'list', items: either(str, obj({ path: str, required: bool, format: str }, { required: ['path'] })) }),
  labels: listOrDict,
  ports: { t: 'list', items: port },
  expose: { t: 'list', items: scalar },
  volumes: { t: 'list', items: volumeMount },
  secrets: { t: 'list', items: fileRef },
  configs: { t: 'list', items: fileRef },
  healthcheck,
  user: scalar,
  working_dir: str,
  stop_signal: str,
  stop_grace_period: duration,
  init: bool,
  cap_add: strings,
  cap_drop: strings,
  hostname: str,
  extra_hosts: either(strings, map(either(str, strings))),
  tmpfs: either(str, strings),
  read_only: bool,
  sysctls: listOrDict,
  ulimits: map(either(int, obj({ soft: int, hard: int }, { required: ['soft', 'hard'] }))),
  profiles: strings,
  depends_on: either(
    strings,
    named(obj({ condition: oneOf('service_started', 'service_healthy', 'service_completed_successfully'), required: bool, restart: bool })),
  ),
  networks: either(strings, named(either(nul, obj({ aliases: strings, ipv4_address: str, ipv6_address: str, link_local_ips: strings, mac_address: str, priority: int, driver_opts: any, gw_priority: int, interface_name: str })))),
  extends: either(str, obj({ service: str, file: str }, { required: ['service'] })),
  deploy,
};

/** Service keys the specification defines that Flotilla accepts but does not act on (yet). */
export const PASSTHROUGH_SERVICE_KEYS: readonly string[] = [
  'annotations', 'attach', 'blkio_config', 'build', 'cgroup', 'cgroup_parent', 'container_name', 'cpu_count',
  'cpu_percent', 'cpu_shares', 'cpu_quota', 'cpu_period', 'cpu_rt_period', 'cpu_rt_runtime', 'cpus', 'cpuset',
  'credential_spec', 'develop', 'device_cgroup_rules', 'devices', 'dns', 'dns_opt', 'dns_search', 'domainname',
  'driver_opts', 'external_links', 'gpus', 'group_add', 'ipc', 'isolation', 'label_file', 'links', 'logging',
  'mac_address', 'mem_limit', 'mem_reservation', 'mem_swappiness', 'memswap_limit', 'models', 'network_mode',
  'oom_kill_disable', 'oom_score_adj', 'pid', 'pids_limit', 'platform', 'post_start', 'pre_start', 'pre_stop', 'privileged',
  'provider', 'pull_policy', 'pull_refresh_after', 'restart', 'runtime', 'scale', 'security_opt', 'shm_size', 'stdin_open',
  'storage_opt', 'tty', 'use_api_socket', 'userns_mode', 'uts', 'volumes_from',
];

/** The fields of a service that the model types (the rest are kept as written). */
export const TYPED_SERVICE_KEYS: readonly string[] = Object.keys(typedServiceFields);

const service: Schema = obj(
  { ...typedServiceFields, ...Object.fromEntries(PASSTHROUGH_SERVICE_KEYS.map((k) => [k, any])) },
  { what: 'a service definition (a mapping)' },
);

const external: Schema = either(bool, obj({ name: str }));
const network: Schema = either(nul, obj({ name: str, driver: str, driver_opts: map(scalar), attachable: bool, external, internal: bool, ipam: any, labels: listOrDict, enable_ipv4: bool, enable_ipv6: bool }));
const volume: Schema = either(nul, obj({ name: str, driver: str, driver_opts: map(scalar), external, labels: listOrDict }));
const secret: Schema = obj({ name: str, file: str, environment: str, external, labels: listOrDict, driver: str, driver_opts: map(scalar), template_driver: str });
const config: Schema = obj({ name: str, file: str, environment: str, content: str, external, labels: listOrDict, template_driver: str });

/** One compose file. */
export const COMPOSE_FILE_SCHEMA: Schema = {
  t: 'object',
  extensions: true,
  what: 'a mapping of top-level keys (services, networks, …)',
  fields: {
    version: any,
    name: { t: 'string' },
    services: named(service),
    networks: named(network),
    volumes: named(volume),
    secrets: named(secret),
    configs: named(config),
    include: { t: 'list', items: either(str, obj({ path: either(str, strings), project_directory: str, env_file: either(str, strings) }, { required: ['path'] })) },
    models: any,
  },
};
