/**
 * The normalized Compose model: what a set of compose files means once interpolated, merged,
 * extended, filtered by profiles and checked. Field names are the Compose Specification's;
 * every field is in its long syntax. Units are Flotilla's: durations in milliseconds, sizes
 * in bytes, CPUs in nanoCPUs (`stack config` prints them back in Compose's notation).
 */

/** A published or exposed port, long syntax. `published` is a string as in Compose (it may be a range). */
export interface PortMapping {
  name?: string;
  target: number;
  published?: string;
  host_ip?: string;
  protocol: string;
  app_protocol?: string;
  mode: 'host' | 'ingress';
}

/** A mount, long syntax; a bind source is an absolute path. */
export interface VolumeMount {
  type: 'volume' | 'bind' | 'tmpfs' | 'npipe' | 'cluster' | 'image';
  source?: string;
  target: string;
  read_only?: boolean;
  consistency?: string;
  bind?: { propagation?: string; create_host_path?: boolean; selinux?: string };
  volume?: { nocopy?: boolean; subpath?: string };
  tmpfs?: { size?: number; mode?: string };
  image?: { subpath?: string };
}

/** A secret or config a service uses, long syntax. */
export interface FileMount {
  source: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: string;
}

export interface Dependency {
  condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  required: boolean;
  restart?: boolean;
}

export interface Healthcheck {
  /** `["CMD", …]`, `["CMD-SHELL", "…"]` or `["NONE"]`. */
  test?: string[];
  interval?: number;
  timeout?: number;
  start_period?: number;
  start_interval?: number;
  retries?: number;
  disable?: boolean;
}

export interface ResourceAmounts {
  /** nanoCPUs. */
  cpus?: number;
  /** Bytes. */
  memory?: number;
  pids?: number;
  generic_resources?: unknown;
  devices?: unknown;
}

export interface UpdateConfig {
  parallelism?: number;
  delay?: number;
  failure_action?: 'continue' | 'rollback' | 'pause';
  monitor?: number;
  max_failure_ratio?: number;
  order?: 'stop-first' | 'start-first';
}

export interface Deploy {
  mode?: 'replicated' | 'global' | 'replicated-job' | 'global-job';
  replicas?: number;
  labels?: Record<string, string>;
  endpoint_mode?: 'vip' | 'dnsrr';
  resources?: { limits?: ResourceAmounts; reservations?: ResourceAmounts };
  restart_policy?: { condition?: 'none' | 'on-failure' | 'any'; delay?: number; max_attempts?: number; window?: number };
  placement?: { constraints?: string[]; preferences?: { spread: string }[]; max_replicas_per_node?: number };
  update_config?: UpdateConfig;
  rollback_config?: UpdateConfig;
  /** `x-` extensions. */
  [extension: `x-${string}`]: unknown;
}

/** An `env_file` entry; `path` is absolute. Resolved into `environment` at the end of loading. */
export interface EnvFileRef {
  path: string;
  required: boolean;
  format?: string;
}

/** One service; every field is optional because override files hold fragments. */
export interface ServiceConfig {
  image?: string;
  /** null: explicitly none (the image's own). */
  command?: string[] | null;
  entrypoint?: string[] | null;
  /** A null value: declared without a value and not set in the environment. */
  environment?: Record<string, string | null>;
  env_file?: EnvFileRef[];
  labels?: Record<string, string>;
  ports?: PortMapping[];
  expose?: string[];
  volumes?: VolumeMount[];
  secrets?: FileMount[];
  configs?: FileMount[];
  healthcheck?: Healthcheck;
  user?: string;
  working_dir?: string;
  stop_signal?: string;
  stop_grace_period?: number;
  init?: boolean;
  cap_add?: string[];
  cap_drop?: string[];
  hostname?: string;
  /** `host=ip` entries. */
  extra_hosts?: string[];
  tmpfs?: string[];
  read_only?: boolean;
  sysctls?: Record<string, string>;
  ulimits?: Record<string, { soft: number; hard: number }>;
  profiles?: string[];
  depends_on?: Record<string, Dependency>;
  networks?: Record<string, Record<string, unknown> | null>;
  extends?: { service: string; file?: string };
  deploy?: Deploy;
  /** Keys the specification defines that the model does not type (`build`, `dns`, …) and `x-` extensions, as written. */
  other?: Record<string, unknown>;
}

/** A top-level secret or config; `file` is absolute. */
export interface FileObjectConfig {
  name?: string;
  file?: string;
  environment?: string;
  content?: string;
  external?: boolean;
  labels?: Record<string, string>;
  [key: string]: unknown;
}

/** A top-level network or volume, as written (null becomes `{}`). */
export type ResourceConfig = Record<string, unknown>;

/** The parts of a project one file (or a merge of files) defines. */
export interface ComposeModel {
  name?: string;
  services: Record<string, ServiceConfig>;
  networks: Record<string, ResourceConfig>;
  volumes: Record<string, ResourceConfig>;
  secrets: Record<string, FileObjectConfig>;
  configs: Record<string, FileObjectConfig>;
  /** Top-level `x-` keys. */
  extensions: Record<string, unknown>;
}

/** A loaded project. */
export interface ComposeProject extends ComposeModel {
  name: string;
  /** The project directory: the first file's directory. Relative paths were resolved against it. */
  workingDir: string;
  /** Services left out because none of their profiles is enabled. */
  disabledServices: Record<string, ServiceConfig>;
}
