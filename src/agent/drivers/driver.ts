import type { TaskAddress } from '../../api/network.ts';
import type { PortConfig, TaskTemplate } from '../../api/service.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * The one contract every task driver implements (`docker`, `exec`, `fake`). A driver knows
 * how to run one task's process on this node; the executor decides when. Every method is
 * idempotent where it can be (preparing a prepared task, stopping a stopped one, removing a
 * removed one succeed). Drivers must pass `conformance.ts`.
 */

/** What a driver needs to know about a task. */
export interface DriverTask {
  readonly id: string;
  readonly serviceId: string;
  readonly serviceName: string;
  readonly nodeId: string;
  readonly slot?: number;
  readonly spec: TaskTemplate;
  readonly ports: readonly PortConfig[];
  /**
   * The task's secrets and configs: files on a per-task tmpfs the agent mounted, to bind
   * read-only at `target` inside the task (docker). Absent when the task uses none.
   */
  readonly fileMounts?: readonly FileMount[];
  /**
   * Host directories (on that tmpfs) holding the task's secrets and configs by name, for
   * drivers that cannot bind files into the task (exec: `FLOTILLA_SECRETS_DIR`, `FLOTILLA_CONFIGS_DIR`).
   */
  readonly secretsDir?: string;
  readonly configsDir?: string;
  /**
   * The networks the task joins, with the address the agent chose on each (the network hook);
   * the first is the primary one (default route, DNS). Absent: the driver's default network.
   */
  readonly networks?: readonly DriverNetwork[];
  /**
   * A host file to use as the task's `/etc/resolv.conf` (docker binds it read-only). Set with
   * `networks`.
   */
  readonly resolvConf?: string;
}

/** A task's attachment to one network, as the driver needs it. */
export interface DriverNetwork {
  readonly networkId: string;
  /** The Docker user-defined network that owns the bridge (`flt-<id10>`). */
  readonly dockerNetwork: string;
  /** The Linux bridge (`flb-<id10>`). */
  readonly bridge: string;
  /** The task's address with the network's prefix length (`10.0.3.2/16`). */
  readonly address: string;
  /** The task's address alone (`10.0.3.2`). */
  readonly ip: string;
  /** The node's gateway on the network (its slice's offset 1; also the DNS server). */
  readonly gateway: string;
  readonly mtu: number;
  /**
   * The routing mesh's network: it never carries the task's default route or DNS, so a task on
   * no other network keeps the engine's default bridge as its primary network.
   */
  readonly ingress?: boolean;
}

/** One secret or config file of a task: where it is on the host, and where the task sees it. */
export interface FileMount {
  readonly hostPath: string;
  readonly target: string;
}

export interface Fingerprint {
  readonly available: boolean;
  /** Why the driver cannot run tasks here ("no Docker engine at /var/run/docker.sock"). */
  readonly reason?: string;
  readonly engine?: { readonly name: string; readonly version: string };
}

export interface StartResult {
  readonly containerId?: string;
  readonly pid?: number;
}

export interface ExitResult {
  readonly exitCode: number;
  /** Set when the process did not exit on its own terms ("OOM killed", "killed by SIGKILL"). */
  readonly reason?: string;
}

export type HandleState = 'created' | 'running' | 'exited';

export interface Inspection {
  readonly taskId: string;
  readonly state: HandleState;
  readonly containerId?: string;
  readonly pid?: number;
  readonly exitCode?: number;
  /** Labels the task was created with (for recovery): `flotilla.service.id` etc. */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * The IP address this node reaches the task's ports on (a container's IP); undefined when
   * the task shares the node's network (exec tasks on no network: 127.0.0.1). On networks: the primary one's.
   */
  readonly address?: string;
  /**
   * The task's addresses on its networks (`DriverTask.networks`), as the driver recorded them
   * at prepare; absent for a task on no network. The agent rebuilds its IPAM from them after
   * a restart and reports them in the task's status.
   */
  readonly networks?: readonly TaskAddress[];
}

/** A task's health as a health check judges it (`TaskStatus.health`). */
export type HealthState = 'starting' | 'healthy' | 'unhealthy';

/** What a driver that runs health checks itself (docker's HEALTHCHECK) says about a task. */
export interface HealthReport {
  readonly status: HealthState;
  /** The last check's output or failure reason, trimmed ("curl: (7) Failed to connect"). */
  readonly output?: string;
}

/** Limits of `Driver.execIn`. */
export interface ExecInOptions {
  /** Killed (and reported as `timedOut`) after this long. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** How a command run by `Driver.execIn` ended. */
export interface ExecInResult {
  readonly exitCode: number;
  /** Its stdout and stderr, cut to the first 4 KiB (as Docker keeps of a health check). */
  readonly output: string;
  /** True when it was killed for running past `timeoutMs`. */
  readonly timedOut?: boolean;
}

export interface StopOptions {
  readonly signal: string;
  readonly gracePeriodMs: number;
}

export interface LogOptions {
  readonly follow: boolean;
  /** Last N lines only; undefined = all. */
  readonly tail?: number;
}

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
  /** ISO-8601 time the line was written, when the driver knows it. */
  readonly time?: string;
}

export interface Driver {
  readonly name: 'docker' | 'exec' | 'fake';
  /** Whether this driver can run tasks on this node, and what engine it talks to. */
  fingerprint(): Promise<Fingerprint>;
  /**
   * Makes the task ready to start: for docker, the image is present (pulled if needed) and the
   * container created. Failing here means the task is `rejected` (a `DriverError` whose message
   * is the engine's reason: "No such image: foo:latest").
   */
  prepare(task: DriverTask, signal?: AbortSignal): Promise<void>;
  /** Starts a prepared task (`not_found` if it was not prepared); starting a started one returns the same result. */
  start(taskId: string): Promise<StartResult>;
  /**
   * Resolves when the task's process exits. Works for processes adopted by `recover`.
   * Aborting `signal` rejects with its reason (the process keeps running).
   */
  wait(taskId: string, signal?: AbortSignal): Promise<ExitResult>;
  /**
   * Sends `signal`, then kills after `gracePeriodMs`. Resolves once the process is gone.
   * Stopping a task that is not running (or unknown) does nothing.
   */
  stop(taskId: string, options: StopOptions): Promise<void>;
  /** Removes every trace of the task (container, log files); a missing task is not an error. */
  remove(taskId: string): Promise<void>;
  /** The task's current state, or undefined when the driver has nothing for it. */
  inspect(taskId: string): Promise<Inspection | undefined>;
  /**
   * The task's output lines. With `follow`, goes on until the task exits; aborting `signal`
   * ends the iteration quietly (no error).
   */
  logs(taskId: string, options: LogOptions, signal?: AbortSignal): AsyncIterable<LogLine>;
  /**
   * Every task this driver has on this node from before (containers labelled with
   * `flotilla.task.id`), so the agent can adopt running ones after a restart.
   */
  recover(): Promise<Inspection[]>;
  /** Releases connections; does not stop tasks. */
  close(): Promise<void>;
  /**
   * Optional: for drivers that run the task's health check themselves (docker runs the spec's
   * `test`, or the image's HEALTHCHECK). The current health, or undefined when the task has no
   * health check (or is unknown). The agent polls it while the task runs.
   */
  health?(taskId: string): Promise<HealthReport | undefined>;
  /**
   * Optional: runs `argv` in the task's environment — for exec tasks a host process with the
   * task's env, workdir and user. The agent uses it for a spec `test` health check when the
   * driver has no `health`. `not_found` for an unknown task.
   */
  execIn?(taskId: string, argv: readonly string[], options: ExecInOptions): Promise<ExecInResult>;
  /**
   * Optional: the engine's images, for drivers that have an engine (docker): built images
   * (docs/builds.md) are built, saved and loaded through it.
   */
  readonly images?: DriverImages;
}

/** An engine's images: what building and fetching built images needs (docs/builds.md). */
export interface DriverImages {
  /** Whether the engine has the image. */
  has(ref: string): Promise<boolean>;
  /** Loads a saved image archive (`docker load`). */
  load(archive: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<void>;
  /**
   * Builds `context` (a tar) as `ref`, calling `onLine` with each line of output. Throws a
   * `DriverError('build_failed')` whose `step` is the step that failed, when known.
   */
  build(context: AsyncIterable<Uint8Array>, ref: string, options: ImageBuildOptions, onLine: (line: string) => void, signal?: AbortSignal): Promise<void>;
  /** The image as an archive (`docker save`). */
  save(ref: string): Promise<AsyncIterable<Uint8Array>>;
}

/** How to build: the Dockerfile's path in the context, the stage, build args and labels. */
export interface ImageBuildOptions {
  readonly dockerfile: string;
  readonly target?: string | undefined;
  readonly args: Readonly<Record<string, string>>;
  readonly labels: Readonly<Record<string, string>>;
}

export type DriverErrorCode = 'not_found' | 'image_not_found' | 'invalid_spec' | 'start_failed' | 'unavailable' | 'internal' | 'build_failed';

export class DriverError extends CodedError<DriverErrorCode> {
  override readonly name = 'DriverError';
  /** For `build_failed`: the Dockerfile step that failed ("Step 2/3 : RUN false"), when known. */
  readonly step: string | undefined;
  constructor(code: DriverErrorCode, message: string, options?: { readonly cause?: unknown; readonly step?: string | undefined }) {
    super(code, message, options);
    this.step = options?.step;
  }
}

export const isDriverError = errorGuard(DriverError);
