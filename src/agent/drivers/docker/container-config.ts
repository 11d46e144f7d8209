import type { ContainerCreateOptions, HealthConfig } from 'dockerode';
import type { Healthcheck } from '../../../api/service.ts';
import type { TaskAddress } from '../../../api/network.ts';
import { DriverError, type DriverNetwork, type DriverTask } from '../driver.ts';
import { taskLabels } from '../labels.ts';
import { normalizeSignal } from '../signals.ts';
import { runtimeHostConfig } from './runtime-options.ts';

/**
 * Pure translation of a task into Docker Engine API terms: the container's name and its
 * create options. No I/O, so it is unit-tested without an engine.
 */

/** Swarm's naming: `<service>.<slot>.<taskId>` (replicated) or `<service>.<nodeId>.<taskId>` (global). */
export function containerName(task: DriverTask): string {
  return `${task.serviceName}.${task.slot ?? task.nodeId}.${task.id}`;
}

/** The image reference with `:latest` added when it names neither a tag nor a digest. */
export function withDefaultTag(image: string): string {
  if (image.includes('@')) return image;
  const lastSlash = image.lastIndexOf('/');
  return image.slice(lastSlash + 1).includes(':') ? image : `${image}:latest`;
}

/**
 * Create options for the task's container. `command` replaces the image's entrypoint and
 * `args` its CMD; Docker restarts nothing (the agent does, as new tasks); an init process only
 * with `init`; mounts and runtime options from `runtime-options.ts`.
 * Throws `invalid_spec` when the task names no image or an unknown stop signal.
 */
export function containerCreateOptions(task: DriverTask): ContainerCreateOptions {
  const c = task.spec.container;
  if (c.image === undefined || c.image === '') {
    throw new DriverError('invalid_spec', 'the docker driver needs container.image');
  }
  const { limits, reservations } = task.spec.resources;
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostPort: string }>> = {};
  for (const p of task.ports) {
    if (p.mode !== 'host') continue;
    const key = `${p.target}/${p.protocol}`;
    exposed[key] = {};
    (bindings[key] ??= []).push({ HostPort: String(p.published) });
  }
  const networks = task.networks ?? [];
  const primary = primaryNetwork(task);
  const binds = [
    // Secrets and configs: single files on the agent's per-task tmpfs, bound read-only.
    ...(task.fileMounts ?? []).map((m) => `${m.hostPath}:${m.target}:ro`),
    // The agent's resolv.conf replaces Docker's (Docker lets a user bind take its place).
    ...(primary && task.resolvConf !== undefined ? [`${task.resolvConf}:/etc/resolv.conf:ro`] : []),
  ];
  const labels = taskLabels(task);
  delete labels[NETWORKS_LABEL];
  if (networks.length > 0) labels[NETWORKS_LABEL] = formatNetworksLabel(networks);
  return {
    name: containerName(task),
    Image: c.image,
    ...(c.command === undefined ? {} : { Entrypoint: [...c.command] }),
    ...(c.args === undefined ? {} : { Cmd: [...c.args] }),
    Env: [...c.env],
    ...(c.workdir === undefined || c.workdir === '' ? {} : { WorkingDir: c.workdir }),
    ...(c.user === undefined || c.user === '' ? {} : { User: c.user }),
    ...(c.hostname === undefined ? {} : { Hostname: c.hostname }),
    Labels: labels,
    StopSignal: normalizeSignal(c.stopSignal),
    StopTimeout: Math.ceil(c.stopGracePeriodMs / 1000),
    ...(c.healthcheck === undefined ? {} : { Healthcheck: dockerHealthcheck(c.healthcheck) }),
    ...(Object.keys(exposed).length === 0 ? {} : { ExposedPorts: exposed }),
    HostConfig: {
      ...(limits.nanoCpus > 0 ? { NanoCpus: limits.nanoCpus } : {}),
      ...(limits.memoryBytes > 0 ? { Memory: limits.memoryBytes } : {}),
      ...(reservations.memoryBytes > 0 ? { MemoryReservation: reservations.memoryBytes } : {}),
      ...(Object.keys(bindings).length === 0 ? {} : { PortBindings: bindings }),
      ...runtimeHostConfig(c),
      ...(binds.length > 0 ? { Binds: binds } : {}),
      // On networks: the primary one at create (API 1.41 takes one), the others connected before
      // start (`additionalNetworks`). Docker's resolver (if it ever rewrites resolv.conf)
      // forwards to the agent's DNS on the primary gateway.
      ...(primary ? { NetworkMode: primary.dockerNetwork, Dns: [primary.gateway] } : {}),
      RestartPolicy: { Name: 'no' },
      Init: c.init,
    },
    ...(primary ? { NetworkingConfig: { EndpointsConfig: { [primary.dockerNetwork]: endpointConfig(primary) } } } : {}),
  };
}

/** The label that records a task's addresses on its networks, for `recover()` and `inspect()`. */
export const NETWORKS_LABEL = 'flotilla.task.networks';

/** The endpoint settings of one network: the address the agent chose (no aliases: the agent answers names). */
export function endpointConfig(n: DriverNetwork): { IPAMConfig: { IPv4Address: string } } {
  return { IPAMConfig: { IPv4Address: n.ip } };
}

/**
 * The network the container is created on: the task's first, unless that is the routing
 * mesh's `ingress` (a task on no other network is created on the engine's default bridge, which
 * gives it its default route and the engine's DNS, as Swarm's docker_gwbridge does).
 */
export function primaryNetwork(task: DriverTask): DriverNetwork | undefined {
  const first = task.networks?.[0];
  return first?.ingress === true ? undefined : first;
}

/** The networks after the primary: connected to the container after it is created, before it starts. */
export function additionalNetworks(task: DriverTask): readonly DriverNetwork[] {
  const networks = task.networks ?? [];
  return primaryNetwork(task) === undefined ? networks : networks.slice(1);
}

/** `netId=ip/prefix,…` in the task's order. */
export function formatNetworksLabel(networks: readonly DriverNetwork[]): string {
  return networks.map((n) => `${n.networkId}=${n.address}`).join(',');
}

/** The label's addresses; malformed parts are skipped. */
export function parseNetworksLabel(text: string | undefined): TaskAddress[] {
  if (text === undefined || text === '') return [];
  const out: TaskAddress[] = [];
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) continue;
    out.push({ networkId: part.slice(0, eq), addr: part.slice(eq + 1) });
  }
  return out;
}

const NS_PER_MS = 1_000_000;

/**
 * The spec's health check as Docker's `Healthcheck` (durations in nanoseconds). A `test` is
 * Docker's own form and Docker runs it; an `http` or `tcp` probe is run by the agent, so the
 * image's HEALTHCHECK is switched off (`NONE`): one task, one health check. Without a spec
 * health check no `Healthcheck` is set and the image's own stands.
 */
export function dockerHealthcheck(hc: Healthcheck): HealthConfig {
  const kind = hc.test?.[0];
  if (hc.test === undefined || kind === 'NONE') return { Test: ['NONE'] };
  if ((kind !== 'CMD' && kind !== 'CMD-SHELL') || hc.test.length < 2) {
    throw new DriverError('invalid_spec', `healthcheck.test: expected ["CMD", prog, …], ["CMD-SHELL", text] or ["NONE"], got ${JSON.stringify(hc.test)}`);
  }
  return {
    Test: [...hc.test],
    Interval: hc.intervalMs * NS_PER_MS,
    Timeout: hc.timeoutMs * NS_PER_MS,
    Retries: hc.retries,
    StartPeriod: hc.startPeriodMs * NS_PER_MS,
  };
}
