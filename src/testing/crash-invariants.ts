import type { Network } from '../api/network.ts';
import type { Service } from '../api/service.ts';
import { STACK_LABEL, type Stack } from '../api/stack.ts';
import type { Task } from '../api/task.ts';
import { isBefore, isTerminal } from '../api/task-state.ts';

/** A container of the node as the engine lists it (`docker ps -a`). */
export interface ContainerView {
  /** The full container id. */
  readonly id: string;
  readonly running: boolean;
  /** Its `flotilla.task.id` label. */
  readonly taskId: string;
  /** When its process last started (`State.StartedAt`), when read. */
  readonly startedAt?: string;
}

/** A Docker network an agent made for a Flotilla network (`flotilla.network.id` label). */
export interface DockerNetworkView {
  readonly name: string;
  readonly networkId: string;
}

/** What the cluster holds, read at one moment (the API's lists and the engine's containers). */
export interface ClusterSnapshot {
  readonly services: readonly Service[];
  readonly tasks: readonly Task[];
  readonly stacks: readonly Stack[];
  readonly networks: readonly Network[];
  readonly containers: readonly ContainerView[];
  readonly dockerNetworks: readonly DockerNetworkView[];
}

/** A service the workload wants: its replicas, image and environment (exactly). */
export interface WantedService {
  readonly name: string;
  /** The stack it belongs to; absent for a service made by `service create`. */
  readonly stack?: string;
  readonly replicas: number;
  readonly image: string;
  readonly env: readonly string[];
}

/** Everything the acknowledged writes of the workload say the cluster holds. */
export interface WantedState {
  readonly services: ReadonlyMap<string, WantedService>;
  /** Stack name → the names of its services. */
  readonly stacks: ReadonlyMap<string, readonly string[]>;
}

/**
 * Where the store's objects differ from `wanted`, looking only at services and stacks whose
 * names start with `prefix` (the workload's own): an object twice, one missing or extra, a
 * spec field not as last written, a stack that does not own exactly its services. Empty when
 * they match. These never converge: they are read once the manager answers.
 */
export function specProblems(snapshot: ClusterSnapshot, wanted: WantedState, prefix: string): string[] {
  const problems: string[] = [];
  const services = snapshot.services.filter((s) => s.spec.name.startsWith(prefix));
  const stacks = snapshot.stacks.filter((s) => s.spec.name.startsWith(prefix));
  problems.push(...duplicates(services.map((s) => s.spec.name), 'service name'), ...duplicates(services.map((s) => s.id), 'service id'));
  problems.push(...duplicates(stacks.map((s) => s.spec.name), 'stack name'));
  const byName = new Map(services.map((s) => [s.spec.name, s]));
  const byId = new Map(snapshot.services.map((s) => [s.id, s]));
  for (const w of wanted.services.values()) {
    const s = byName.get(w.name);
    if (!s) {
      problems.push(`service ${w.name} is missing`);
      continue;
    }
    if (s.spec.mode !== 'replicated') problems.push(`service ${w.name}: mode ${s.spec.mode}, wanted replicated`);
    if (s.spec.replicas !== w.replicas) problems.push(`service ${w.name}: ${s.spec.replicas} replicas, wanted ${w.replicas}`);
    const image = s.spec.taskTemplate.container.image;
    if (image !== w.image) problems.push(`service ${w.name}: image ${String(image)}, wanted ${w.image}`);
    const env = s.spec.taskTemplate.container.env.filter((e) => e.startsWith('CRASH_')).sort();
    if (env.join(' ') !== [...w.env].sort().join(' ')) problems.push(`service ${w.name}: env ${env.join(' ')}, wanted ${w.env.join(' ')}`);
    const stack = stackOf(s);
    if (stack !== w.stack) problems.push(`service ${w.name}: stack ${String(stack)}, wanted ${String(w.stack)}`);
  }
  for (const s of services) if (!wanted.services.has(s.spec.name)) problems.push(`service ${s.spec.name} exists but was removed or never created`);
  const stackNames = new Set(stacks.map((s) => s.spec.name));
  for (const name of wanted.stacks.keys()) if (!stackNames.has(name)) problems.push(`stack ${name} is missing`);
  for (const st of stacks) {
    const want = wanted.stacks.get(st.spec.name);
    if (!want) {
      problems.push(`stack ${st.spec.name} exists but was removed or never deployed`);
      continue;
    }
    const owned = st.resources.services.map((id) => byId.get(id)?.spec.name ?? `(missing service ${id})`).sort();
    if (owned.join(' ') !== [...want].sort().join(' ')) problems.push(`stack ${st.spec.name} owns services [${owned.join(' ')}], wanted [${[...want].sort().join(' ')}]`);
  }
  const networkIds = new Set(snapshot.networks.map((n) => n.id));
  for (const st of stacks) {
    for (const id of st.resources.networks) if (!networkIds.has(id)) problems.push(`stack ${st.spec.name} owns network ${id}, which does not exist`);
  }
  const networks = snapshot.networks.filter((n) => n.spec.name.startsWith(prefix));
  problems.push(...duplicates(networks.map((n) => n.spec.name), 'network name'));
  for (const n of networks) {
    const labels: Readonly<Record<string, string>> = n.spec.labels;
    const stack = labels[STACK_LABEL];
    if (stack !== undefined && !stackNames.has(stack)) problems.push(`network ${n.spec.name} is labelled with stack ${stack}, which does not exist`);
  }
  for (const s of services) {
    const stack = stackOf(s);
    if (stack !== undefined && !stackNames.has(stack)) problems.push(`service ${s.spec.name} is labelled with stack ${stack}, which does not exist`);
  }
  return problems;
}

/**
 * Where the cluster has not converged: per replicated service, exactly `replicas` tasks wanted
 * running, one per slot 1…replicas, each running the service's current `specVersion`; no rollout
 * in progress or paused; no task on a node still on its way that is not wanted running (one
 * stopped before it reached a node stays `new` or `pending`, as history); every container
 * owned by a task the store knows; a running container for each running task and no other.
 * Empty when converged. Services and containers of other users are ignored only by not being
 * in the snapshot (the caller lists this node's containers and every task).
 */
export function convergenceProblems(snapshot: ClusterSnapshot): string[] {
  const problems: string[] = [];
  problems.push(...duplicates(snapshot.tasks.map((t) => t.id), 'task id'));
  const services = new Map(snapshot.services.map((s) => [s.id, s]));
  const tasksById = new Map(snapshot.tasks.map((t) => [t.id, t]));
  const wantedRunning = new Map<string, Task[]>();
  for (const t of snapshot.tasks) {
    const s = services.get(t.serviceId);
    if (!s) {
      problems.push(`task ${t.id} of a removed service ${t.serviceName} is still in the store (${t.status.state}, wanted ${t.desiredState})`);
      continue;
    }
    if (t.desiredState === 'running') wantedRunning.set(s.id, [...(wantedRunning.get(s.id) ?? []), t]);
    // A task stopped before it reached an agent (before `assigned`) is done as it is: no agent
    // will report on it, and the orchestrator counts it as history (`task-life.ts` stopsAtOnce).
    else if (!isTerminal(t.status.state) && !isBefore(t.status.state, 'assigned')) problems.push(`task ${t.id} of ${s.spec.name} is ${t.status.state} but wanted ${t.desiredState}`);
  }
  for (const s of snapshot.services) {
    if (s.spec.mode !== 'replicated') continue;
    const name = s.spec.name;
    const tasks = wantedRunning.get(s.id) ?? [];
    if (tasks.length !== s.spec.replicas) problems.push(`service ${name}: ${tasks.length} tasks wanted running, ${s.spec.replicas} replicas`);
    problems.push(...duplicates(tasks.map((t) => String(t.slot)), `${name} slot wanted running`));
    for (const t of tasks) {
      if (t.slot === undefined || t.slot < 1 || t.slot > s.spec.replicas) problems.push(`service ${name}: task ${t.id} in slot ${String(t.slot)} of ${s.spec.replicas}`);
      if (t.specVersion !== s.specVersion) problems.push(`service ${name}: task ${t.id} runs spec ${t.specVersion}, the service is at ${s.specVersion}`);
      if (t.status.state !== 'running') problems.push(`service ${name}: task ${t.id} is ${t.status.state}${t.status.err ? ` (${t.status.err})` : ''}`);
    }
    const rollout = s.updateStatus?.state;
    if (rollout !== undefined && rollout !== 'completed') problems.push(`service ${name}: rollout ${rollout}${s.updateStatus?.message ? ` (${s.updateStatus.message})` : ''}`);
  }
  const runningContainers = new Map<string, ContainerView>();
  for (const c of snapshot.containers) {
    const t = tasksById.get(c.taskId);
    if (!t) {
      problems.push(`container ${c.id.slice(0, 12)} (${c.running ? 'running' : 'stopped'}) belongs to task ${c.taskId}, which the store does not know`);
      continue;
    }
    if (!c.running) continue;
    runningContainers.set(c.id, c);
    if (t.desiredState !== 'running' || t.status.state !== 'running') problems.push(`container ${c.id.slice(0, 12)} runs for task ${t.id} of ${t.serviceName}, which is ${t.status.state} and wanted ${t.desiredState}`);
    else if (t.status.containerId !== c.id) problems.push(`container ${c.id.slice(0, 12)} runs for task ${t.id} of ${t.serviceName}, whose container is ${String(t.status.containerId)}`);
  }
  problems.push(...duplicates(snapshot.containers.filter((c) => c.running).map((c) => c.taskId), 'running container of task'));
  for (const t of snapshot.tasks) {
    if (t.status.state !== 'running') continue;
    const id = t.status.containerId;
    if (id === undefined || !runningContainers.has(id)) problems.push(`task ${t.id} of ${t.serviceName} is running, but its container ${String(id)} is not`);
  }
  const networkIds = new Set(snapshot.networks.map((n) => n.id));
  for (const d of snapshot.dockerNetworks) {
    if (!networkIds.has(d.networkId)) problems.push(`Docker network ${d.name} is left for network ${d.networkId}, which the store does not have`);
  }
  return problems;
}

/** Each running task's container and when it started, to compare across a crash. */
export type RunningContainers = ReadonlyMap<string, { readonly containerId: string; readonly startedAt: string | undefined }>;

/** The running tasks of a converged snapshot and their containers. */
export function runningContainers(snapshot: ClusterSnapshot): RunningContainers {
  const containers = new Map(snapshot.containers.map((c) => [c.id, c]));
  const running = new Map<string, { containerId: string; startedAt: string | undefined }>();
  for (const t of snapshot.tasks) {
    const id = t.status.containerId;
    if (t.status.state === 'running' && id !== undefined) running.set(t.id, { containerId: id, startedAt: containers.get(id)?.startedAt });
  }
  return running;
}

/**
 * Containers a crash restarted: tasks that ran before (`before`, from the last converged
 * snapshot) and still run after, but in another container or one started again. A manager's
 * (and its agent's) restart adopts running containers; it never restarts them.
 */
export function restartedContainers(before: RunningContainers, after: ClusterSnapshot): string[] {
  const now = runningContainers(after);
  const problems: string[] = [];
  for (const [taskId, was] of before) {
    const is = now.get(taskId);
    if (!is) continue;
    if (is.containerId !== was.containerId) problems.push(`task ${taskId} ran in container ${was.containerId.slice(0, 12)}, now in ${is.containerId.slice(0, 12)}`);
    else if (was.startedAt !== undefined && is.startedAt !== undefined && was.startedAt !== is.startedAt) {
      problems.push(`task ${taskId}: its container ${was.containerId.slice(0, 12)} started again (${was.startedAt}, then ${is.startedAt})`);
    }
  }
  return problems;
}

/**
 * Tasks a crash replaced or restarted although nothing asked for it: every task running in
 * `before` (a converged snapshot with start times) in a slot `kept` says no operation touched
 * (`keptSlots`) must still be the task wanted running there, running, in the same container,
 * not started again. A manager's restart (and its failover) never restarts a running container
 * and never replaces a task that runs (no node marked down because its manager was away).
 */
export function replacedTasks(before: ClusterSnapshot, after: ClusterSnapshot, kept: ReadonlyMap<string, number>): string[] {
  const problems: string[] = [];
  const services = new Map(before.services.map((s) => [s.id, s]));
  const tasks = new Map(after.tasks.map((t) => [t.id, t]));
  const startedBefore = new Map(before.containers.map((c) => [c.id, c.startedAt]));
  const startedAfter = new Map(after.containers.map((c) => [c.id, c.startedAt]));
  for (const t of before.tasks) {
    if (t.status.state !== 'running' || t.desiredState !== 'running' || t.slot === undefined) continue;
    const s = services.get(t.serviceId);
    if (!s || t.slot > (kept.get(s.spec.name) ?? 0)) continue;
    const now = tasks.get(t.id);
    const where = `task ${t.id} of ${s.spec.name} (slot ${t.slot})`;
    if (!now) problems.push(`${where} is gone, though nothing changed its service`);
    else if (now.desiredState !== 'running' || now.status.state !== 'running') problems.push(`${where} is ${now.status.state} and wanted ${now.desiredState}, though nothing changed its service${now.status.message ? ` (${now.status.message})` : ''}`);
    else if (now.status.containerId !== t.status.containerId) problems.push(`${where} ran in container ${String(t.status.containerId).slice(0, 12)}, now in ${String(now.status.containerId).slice(0, 12)}`);
    else {
      const id = String(t.status.containerId);
      const was = startedBefore.get(id);
      const is = startedAfter.get(id);
      if (was !== undefined && is !== undefined && was !== is) problems.push(`${where}: its container ${id.slice(0, 12)} started again (${was}, then ${is})`);
    }
  }
  return problems;
}

function stackOf(s: Service): string | undefined {
  const labels: Readonly<Record<string, string>> = s.spec.labels;
  return labels[STACK_LABEL];
}

function duplicates(values: readonly string[], what: string): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const v of values) (seen.has(v) ? twice : seen).add(v);
  return [...twice].map((v) => `${what} ${v} appears more than once`);
}
