import Docker from 'dockerode';
import { TASK_LABELS } from '../../../api/service.ts';
import type { Clock } from '../../../lib/clock.ts';
import {
  DriverError,
  isDriverError,
  type Driver,
  type DriverTask,
  type ExitResult,
  type Fingerprint,
  type HandleState,
  type HealthReport,
  type Inspection,
  type LogLine,
  type LogOptions,
  type StartResult,
  type StopOptions,
} from '../driver.ts';
import type { TaskAddress } from '../../../api/network.ts';
import { dockerNetworkName } from '../../network/names.ts';
import { normalizeSignal } from '../signals.ts';
import { additionalNetworks, containerCreateOptions, endpointConfig, NETWORKS_LABEL, parseNetworksLabel, withDefaultTag } from './container-config.ts';
import { volumesToCreate } from './runtime-options.ts';
import { parseDockerHost, type DockerEndpoint } from './docker-host.ts';
import { DockerImages } from './docker-images.ts';
import { dockerError, statusOf } from './docker-error.ts';
import { LogDemuxer } from './log-demux.ts';

/** Options of `DockerDriver`. */
export interface DockerDriverOptions {
  /** The node this driver runs on: containers are labelled with it, and `recover()` finds only its own. */
  readonly nodeId: string;
  /** Like the docker CLI's: `unix:///path` or `tcp://host:port`. Default `DOCKER_HOST`, else the local socket. */
  readonly dockerHost?: string;
  /** Timers for pull and ping timeouts and stop grace periods. */
  readonly clock: Clock;
  /** How long a missing image may take to pull before the task is rejected. Default 5 minutes. */
  readonly pullTimeoutMs?: number;
  /** How long `fingerprint` waits for the engine. Default 5 s. */
  readonly pingTimeoutMs?: number;
}

/**
 * Runs tasks as Docker containers through the Engine API (dockerode); works with Podman's
 * compatible socket too. The engine keeps all state, so a new instance adopts containers from
 * before an agent restart by their `flotilla.*` labels.
 */
export class DockerDriver implements Driver {
  readonly name = 'docker';
  /** The engine's images: built images are built, saved and loaded through it (docs/builds.md). */
  readonly images: DockerImages;
  readonly #docker: Docker;
  readonly #endpoint: DockerEndpoint;
  readonly #nodeId: string;
  readonly #clock: Clock;
  readonly #pullTimeoutMs: number;
  readonly #pingTimeoutMs: number;
  /** Container id by task id, filled by prepare and lookups (ids never change). */
  readonly #ids = new Map<string, string>();
  /** Tasks whose container this instance started (so it is past `created`). */
  readonly #started = new Set<string>();

  constructor(options: DockerDriverOptions) {
    this.#endpoint = parseDockerHost(options.dockerHost);
    this.#docker = new Docker(this.#endpoint.options);
    this.images = new DockerImages(this.#docker);
    this.#nodeId = options.nodeId;
    this.#clock = options.clock;
    this.#pullTimeoutMs = options.pullTimeoutMs ?? 5 * 60_000;
    this.#pingTimeoutMs = options.pingTimeoutMs ?? 5_000;
  }

  /** A client of the same engine, for the node's other users of it (the network data plane). */
  engineClient(): Docker {
    return new Docker(this.#endpoint.options);
  }

  /** Where this driver looks for the engine (`unix:///var/run/docker.sock`). */
  get endpoint(): string {
    return this.#endpoint.text;
  }

  async fingerprint(): Promise<Fingerprint> {
    const ac = new AbortController();
    const timer = this.#clock.setTimer(this.#pingTimeoutMs, () => ac.abort(new Error(`no answer in ${this.#pingTimeoutMs}ms`)));
    try {
      await (this.#docker.ping as (o: object) => Promise<unknown>)({ abortSignal: ac.signal });
      const v = await (this.#docker.version as (o: object) => Promise<Docker.DockerVersion>)({ abortSignal: ac.signal });
      return { available: true, engine: { name: 'docker', version: v.Version } };
    } catch (e) {
      const why = ac.signal.aborted ? String((ac.signal.reason as Error).message) : (e as Error).message;
      return { available: false, reason: `no Docker engine at ${this.#endpoint.text}: ${why}` };
    } finally {
      timer.cancel();
    }
  }

  /**
   * Creates the task's container, pulling its image first if the engine lacks it. The common
   * case is one engine call, as `docker run` makes it: the create itself says when the
   * container exists already (409: its name is the task's) or the image is missing (404: then
   * pull and create again), so no lookup or image inspect goes before it.
   */
  async prepare(task: DriverTask, signal?: AbortSignal): Promise<void> {
    if (this.#ids.has(task.id)) return;
    const create = containerCreateOptions(task);
    const image = create.Image ?? '';
    if (volumesToCreate(task.spec.container.mounts).length > 0) {
      // Named volumes are made before the container; the image is checked first so that a
      // task whose image cannot be had leaves no volume behind.
      await this.#ensureImage(image, signal);
      await this.#ensureVolumes(task);
    }
    await this.#checkNetworks(task);
    let e = await this.#create(task.id, create, signal);
    if (e !== undefined && statusOf(e) === 404 && !isMissingNetwork(e)) {
      await this.#ensureImage(image, signal);
      e = await this.#create(task.id, create, signal);
    }
    if (e === undefined) return this.#connectNetworks(task, true);
    const status = statusOf(e);
    if (status === 409) {
      // Created before (an earlier prepare, or before an agent restart): fine if it is this task's.
      if (await this.#find(task.id)) return this.#connectNetworks(task, false);
    }
    if (isMissingNetwork(e)) throw dockerError(e, 'invalid_spec', `create container for task ${task.id}`);
    if (status === 404) throw dockerError(e, 'image_not_found');
    throw dockerError(e, status === 400 ? 'invalid_spec' : 'internal', `create container for task ${task.id}`);
  }

  /**
   * Each network of the task exists (the engine takes a missing one at create and fails only
   * at start). `invalid_spec` naming it otherwise.
   */
  async #checkNetworks(task: DriverTask): Promise<void> {
    for (const n of task.networks ?? []) {
      try {
        await this.#docker.getNetwork(n.dockerNetwork).inspect();
      } catch (e) {
        if (statusOf(e) === 404) {
          throw new DriverError('invalid_spec', `network ${n.networkId} has no Docker network ${n.dockerNetwork} on this node`, { cause: e });
        }
        throw dockerError(e, 'unavailable', `inspect Docker network ${n.dockerNetwork}`);
      }
    }
  }

  /**
   * Connects the task's networks after the primary (API 1.41 creates a container on one) with
   * their addresses, before it starts; those already connected (a retried prepare) are left.
   * On failure a container this call created is removed, so a rejected task leaves nothing
   * behind (one found from before is left to the executor).
   */
  async #connectNetworks(task: DriverTask, createdNow: boolean): Promise<void> {
    const more = additionalNetworks(task);
    if (more.length === 0) return;
    const id = await this.#require(task.id);
    try {
      const info = await this.#docker.getContainer(id).inspect();
      const connected = new Set(Object.keys(info.NetworkSettings.Networks ?? {}));
      for (const n of more) {
        if (connected.has(n.dockerNetwork)) continue;
        await this.#docker.getNetwork(n.dockerNetwork).connect({ Container: id, EndpointConfig: endpointConfig(n) });
      }
    } catch (e) {
      if (createdNow) await this.remove(task.id).catch(() => undefined);
      const status = statusOf(e);
      throw dockerError(e, status === 400 || status === 404 ? 'invalid_spec' : 'internal', `connect task ${task.id} to its networks`);
    }
  }

  /** One create call; the engine's error instead of a throw. */
  async #create(taskId: string, create: Docker.ContainerCreateOptions, signal: AbortSignal | undefined): Promise<unknown> {
    try {
      const c = await this.#docker.createContainer({ ...create, abortSignal: signal } as Docker.ContainerCreateOptions);
      this.#ids.set(taskId, c.id);
      return undefined;
    } catch (e) {
      if (signal?.aborted) throw e;
      return e ?? new Error('create failed');
    }
  }

  async start(taskId: string): Promise<StartResult> {
    const id = await this.#require(taskId);
    try {
      await this.#docker.getContainer(id).start();
    } catch (e) {
      // 304: already started.
      if (statusOf(e) !== 304) throw dockerError(e, 'start_failed');
    }
    this.#started.add(taskId);
    return { containerId: id };
  }

  async wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    const id = await this.#require(taskId);
    const c = this.#docker.getContainer(id);
    try {
      // `not-running` returns at once for a container not started yet; wait for its exit instead.
      // A container this driver started is past `created`: no inspect needed to tell.
      const created = !this.#started.has(taskId) && (await c.inspect({ abortSignal: signal } as object)).State.Status === 'created';
      const condition: 'next-exit' | 'not-running' = created ? 'next-exit' : 'not-running';
      const res = (await c.wait({ condition, ...(signal ? { abortSignal: signal } : {}) })) as { StatusCode: number; Error?: { Message?: string } | null };
      const after = await c.inspect().catch(() => undefined);
      const reason = after?.State.OOMKilled ? 'OOM killed' : res.Error?.Message || undefined;
      return reason === undefined ? { exitCode: res.StatusCode } : { exitCode: res.StatusCode, reason };
    } catch (e) {
      if (signal?.aborted) throw signal.reason as Error;
      throw dockerError(e, statusOf(e) === 404 ? 'not_found' : 'internal', `wait for task ${taskId}`);
    }
  }

  async stop(taskId: string, options: StopOptions): Promise<void> {
    const sig = normalizeSignal(options.signal);
    const id = await this.#find(taskId);
    if (!id) return;
    const c = this.#docker.getContainer(id);
    const info = await c.inspect().catch((e: unknown) => {
      if (statusOf(e) === 404) return undefined;
      throw dockerError(e, 'internal');
    });
    if (!info?.State.Running) return;
    const seconds = Math.ceil(options.gracePeriodMs / 1000);
    const imageSignal = normalizeSignal((info.Config as { StopSignal?: string }).StopSignal || 'SIGTERM');
    try {
      if (sig === 'SIGKILL') {
        await c.kill({ signal: 'SIGKILL' });
      } else if (sig === imageSignal) {
        // The engine sends the container's stop signal, then SIGKILL after `t` seconds.
        await c.stop({ t: seconds });
      } else {
        await c.kill({ signal: sig });
        const ac = new AbortController();
        const timer = this.#clock.setTimer(options.gracePeriodMs, () => ac.abort());
        try {
          await c.wait({ condition: 'not-running', abortSignal: ac.signal });
        } catch (e) {
          if (!ac.signal.aborted) throw e;
          await c.kill({ signal: 'SIGKILL' });
        } finally {
          timer.cancel();
        }
      }
      await c.wait({ condition: 'not-running' });
    } catch (e) {
      const status = statusOf(e);
      // 304: already stopped; 404: gone; 409: not running any more.
      if (status === 304 || status === 404 || status === 409) return;
      throw dockerError(e, 'internal', `stop task ${taskId}`);
    }
  }

  async remove(taskId: string): Promise<void> {
    const id = await this.#find(taskId);
    if (!id) return;
    try {
      await this.#docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      const status = statusOf(e);
      // 404: gone already; 409: removal already in progress.
      if (status !== 404 && status !== 409) throw dockerError(e, 'internal', `remove task ${taskId}`);
    }
    this.#ids.delete(taskId);
    this.#started.delete(taskId);
  }

  async inspect(taskId: string): Promise<Inspection | undefined> {
    const id = await this.#find(taskId);
    if (!id) return undefined;
    try {
      return toInspection(await this.#docker.getContainer(id).inspect());
    } catch (e) {
      if (statusOf(e) === 404) {
        this.#ids.delete(taskId);
        return undefined;
      }
      throw dockerError(e, 'internal');
    }
  }

  /**
   * Docker's own verdict (`State.Health`): the spec's `test` or the image's HEALTHCHECK, run by
   * the engine. Undefined when the container has no health check (or is gone).
   */
  async health(taskId: string): Promise<HealthReport | undefined> {
    const id = await this.#find(taskId);
    if (!id) return undefined;
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.#docker.getContainer(id).inspect();
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw dockerError(e, 'internal', `inspect task ${taskId}`);
    }
    return healthReport(info.State.Health);
  }

  async *logs(taskId: string, options: LogOptions, signal?: AbortSignal): AsyncIterable<LogLine> {
    const id = await this.#require(taskId);
    const c = this.#docker.getContainer(id);
    const base = { stdout: true, stderr: true, timestamps: true, tail: options.tail ?? 'all' } as const;
    const demux = new LogDemuxer({ timestamps: true });
    try {
      if (!options.follow) {
        const buf = await c.logs({ ...base, follow: false, abortSignal: signal } as Docker.ContainerLogsOptions & { follow?: false });
        yield* demux.push(Buffer.isBuffer(buf) ? buf : Buffer.from(buf));
        yield* demux.end();
        return;
      }
      const stream = await c.logs({ ...base, follow: true, abortSignal: signal } as Docker.ContainerLogsOptions & { follow: true });
      const onAbort = (): void => (stream as NodeJS.ReadableStream & { destroy(): void }).destroy();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        for await (const chunk of stream) {
          for (const l of demux.push(chunk as Buffer)) {
            yield l;
            if (signal?.aborted) return;
          }
        }
        yield* demux.end();
      } finally {
        signal?.removeEventListener('abort', onAbort);
        onAbort();
      }
    } catch (e) {
      if (signal?.aborted) return;
      throw isDriverError(e) ? e : dockerError(e, statusOf(e) === 404 ? 'not_found' : 'internal', `logs of task ${taskId}`);
    }
  }

  async recover(): Promise<Inspection[]> {
    let list: Docker.ContainerInfo[];
    try {
      list = await this.#docker.listContainers({
        all: true,
        filters: { label: [TASK_LABELS.taskId, `${TASK_LABELS.nodeId}=${this.#nodeId}`] },
      });
    } catch (e) {
      throw dockerError(e, 'unavailable', 'list containers');
    }
    const found: Inspection[] = [];
    for (const item of list) {
      try {
        const info = toInspection(await this.#docker.getContainer(item.Id).inspect());
        this.#ids.set(info.taskId, item.Id);
        found.push(info);
      } catch (e) {
        if (statusOf(e) !== 404) throw dockerError(e, 'internal');
      }
    }
    return found;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Pulls the image unless the engine has it; `image_not_found` with the engine's words if it cannot. */
  async #ensureImage(image: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#docker.getImage(image).inspect();
      return;
    } catch (e) {
      if (statusOf(e) !== 404) throw dockerError(e, 'unavailable', `inspect image ${image}`);
    }
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = this.#clock.setTimer(this.#pullTimeoutMs, () =>
      ac.abort(new DriverError('image_not_found', `pull ${image}: no result in ${this.#pullTimeoutMs}ms`)));
    try {
      const stream = await this.#docker.pull(withDefaultTag(image), { abortSignal: ac.signal });
      const failure = await pullResult(stream);
      if (failure !== undefined) throw new DriverError('image_not_found', failure);
    } catch (e) {
      if (signal?.aborted) throw signal.reason as Error;
      if (ac.signal.aborted && isDriverError(ac.signal.reason)) throw ac.signal.reason;
      const err = isDriverError(e) ? e : dockerError(e, 'image_not_found');
      if (err.code !== 'image_not_found') throw err;
      // Name the image: the engine's pull error often names only the registry it tried.
      throw new DriverError('image_not_found', `image ${image} is not on this node and could not be pulled: ${err.message}`, {
        cause: e,
      });
    } finally {
      timer.cancel();
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Creates the task's named volumes that do not exist yet, with their labels and driver. An
   * existing volume is used as it is (its labels are not changed), as `docker stack deploy` does.
   */
  async #ensureVolumes(task: DriverTask): Promise<void> {
    for (const v of volumesToCreate(task.spec.container.mounts)) {
      try {
        await this.#docker.getVolume(v.name).inspect();
        continue;
      } catch (e) {
        if (statusOf(e) !== 404) throw dockerError(e, 'unavailable', `inspect volume ${v.name}`);
      }
      try {
        // Creating an existing volume (a concurrent task) returns it: no race to handle.
        await this.#docker.createVolume({ Name: v.name, Driver: v.driver, Labels: v.labels });
      } catch (e) {
        const status = statusOf(e);
        throw dockerError(e, status === 400 || status === 404 ? 'invalid_spec' : 'internal', `create volume ${v.name} (driver ${v.driver}) for task ${task.id}`);
      }
    }
  }

  /** The task's container id on this node, if it has one. */
  async #find(taskId: string): Promise<string | undefined> {
    const known = this.#ids.get(taskId);
    if (known) return known;
    let list: Docker.ContainerInfo[];
    try {
      list = await this.#docker.listContainers({
        all: true,
        filters: { label: [`${TASK_LABELS.taskId}=${taskId}`, `${TASK_LABELS.nodeId}=${this.#nodeId}`] },
      });
    } catch (e) {
      throw dockerError(e, 'unavailable', 'list containers');
    }
    const id = list[0]?.Id;
    if (id) this.#ids.set(taskId, id);
    return id;
  }

  async #require(taskId: string): Promise<string> {
    const id = await this.#find(taskId);
    if (!id) throw new DriverError('not_found', `no container for task ${taskId} on node ${this.#nodeId}`);
    return id;
  }
}

function toInspection(info: Docker.ContainerInspectInfo): Inspection {
  const labels = info.Config.Labels ?? {};
  const state = handleState(info.State.Status);
  const networks = taskAddresses(info, state);
  // On the default bridge (no network, or only the routing mesh's) its address there; else the first network's.
  const onDefault = (info.NetworkSettings as { IPAddress?: string } | undefined)?.IPAddress || undefined;
  const primary = networks[0]?.addr.split('/')[0];
  const address = state !== 'running' ? undefined : labels[NETWORKS_LABEL] === undefined ? containerAddress(info) : (onDefault ?? primary);
  return {
    taskId: labels[TASK_LABELS.taskId] ?? '',
    state,
    containerId: info.Id,
    ...(state === 'running' && info.State.Pid > 0 ? { pid: info.State.Pid } : {}),
    ...(state === 'exited' ? { exitCode: info.State.ExitCode } : {}),
    labels,
    ...(address === undefined ? {} : { address }),
    ...(labels[NETWORKS_LABEL] === undefined ? {} : { networks }),
  };
}

/**
 * The task's addresses on its networks, from the label written at create. For a running
 * container each is checked against the engine's view: the address Docker reports on that
 * network wins, and a network the container is no longer on is left out. A stopped container
 * holds no address in Docker, so the label's stand.
 */
function taskAddresses(info: Docker.ContainerInspectInfo, state: HandleState): TaskAddress[] {
  const recorded = parseNetworksLabel(info.Config.Labels?.[NETWORKS_LABEL]);
  if (state !== 'running') return recorded;
  const actual = (info.NetworkSettings as { Networks?: Record<string, { IPAddress?: string }> } | undefined)?.Networks ?? {};
  const out: TaskAddress[] = [];
  for (const a of recorded) {
    // An attachable network's Docker network has the network's name, which the label does not
    // record: there the container's endpoint holding the recorded address is the one (ranges
    // never overlap, so an address names its network).
    const recordedIp = a.addr.split('/')[0];
    const ip = actual[dockerNetworkName(a.networkId)]?.IPAddress ?? Object.values(actual).find((e) => e.IPAddress === recordedIp)?.IPAddress;
    if (!ip) continue;
    const prefix = a.addr.split('/')[1];
    out.push({ networkId: a.networkId, addr: prefix === undefined ? ip : `${ip}/${prefix}` });
  }
  return out;
}

/** A create refused because a network it names does not exist (404, like a missing image). */
function isMissingNetwork(e: unknown): boolean {
  return statusOf(e) === 404 && /network .* not found/i.test(dockerError(e, 'internal').message);
}

/** The container's IP: the default bridge's, else the first network's; none with host networking. */
function containerAddress(info: Docker.ContainerInspectInfo): string | undefined {
  const settings = info.NetworkSettings as { IPAddress?: string; Networks?: Record<string, { IPAddress?: string }> } | undefined;
  if (settings?.IPAddress) return settings.IPAddress;
  for (const net of Object.values(settings?.Networks ?? {})) if (net.IPAddress) return net.IPAddress;
  return undefined;
}

/** Docker's `State.Health` in driver terms; undefined for `none` or no health check. */
export function healthReport(health: Docker.ContainerInspectInfo['State']['Health'] | undefined): HealthReport | undefined {
  const status = health?.Status;
  if (status !== 'starting' && status !== 'healthy' && status !== 'unhealthy') return undefined;
  const last = health?.Log?.at(-1);
  if (!last) return { status };
  const text = last.Output.trim();
  const output = text === '' ? `exit code ${last.ExitCode}` : text.length > 500 ? `${text.slice(0, 500)}…` : text;
  return { status, output };
}

function handleState(status: string): HandleState {
  switch (status) {
    case 'created':
      return 'created';
    case 'running':
    case 'paused':
    case 'restarting':
      return 'running';
    default:
      // exited, dead, removing
      return 'exited';
  }
}

/** Reads a pull's JSON progress stream to its end; the engine's error message, if any. */
async function pullResult(stream: NodeJS.ReadableStream): Promise<string | undefined> {
  let buf = '';
  let failure: string | undefined;
  for await (const chunk of stream) {
    buf += String(chunk);
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line === '') continue;
      try {
        const msg = JSON.parse(line) as { error?: string; errorDetail?: { message?: string } };
        failure ??= msg.errorDetail?.message ?? msg.error;
      } catch {
        // not JSON: progress noise
      }
    }
  }
  return failure;
}
