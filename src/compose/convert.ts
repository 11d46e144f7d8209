import { UNBUILT_IMAGE } from '../api/build.ts';
import { isApiError } from '../api/errors.ts';
import type { ServiceSpec } from '../api/service.ts';
import { validateServiceSpec } from '../api/validate.ts';
import { ComposeError, type ComposeProblem } from './errors.ts';
import type { ComposeProject, Deploy, ServiceConfig, UpdateConfig } from './model.ts';
import { toFileReferences, toMounts, type Warn } from './mounts.ts';
import { resourceName, scopedName, STACK_NAMESPACE_LABEL } from './names.ts';
import { toServiceNetworks, toStackNetworks, type StackNetwork } from './networks.ts';
import { ClusterFieldNotes, LIFECYCLE_HOOKS, NO_MEANING_IN_A_CLUSTER } from './ignored-fields.ts';
import { mapRestart } from './restart.ts';
import { posOf, posOfValue } from './source.ts';

export { scopedName, STACK_NAMESPACE_LABEL, type StackNetwork };

/** A top-level volume, secret or config of the stack, named and labelled for the stack. */
export interface StackResource {
  /** The name in the compose file. */
  readonly key: string;
  /** `STACK_key`, or the `name:` the file gives (which is used as is, as Compose does), or the key of an `external` one. */
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly config: Record<string, unknown>;
}

/** What a project becomes: service specs for `POST /v1/services`, the other objects, and one warning per field Flotilla ignores. */
export interface ConvertedStack {
  readonly services: ServiceSpec[];
  /** The networks the services use (`networks.ts`): to create, or external ones to look up. */
  readonly networks: StackNetwork[];
  readonly volumes: StackResource[];
  readonly secrets: StackResource[];
  readonly configs: StackResource[];
  readonly warnings: string[];
}

export interface ConvertOptions {
  /**
   * The image each service with `build:` runs, by service key (the built image's reference:
   * docs/builds.md). `build` itself is read by `build.ts`; a service that builds runs this image.
   */
  readonly images?: Readonly<Record<string, string>>;
}

/** Service fields the converter maps; every other field present gets a warning. */
const MAPPED = new Set([
  'image', 'command', 'entrypoint', 'environment', 'labels', 'ports', 'healthcheck', 'user', 'working_dir', 'stop_signal',
  'stop_grace_period', 'deploy', 'profiles', 'volumes', 'tmpfs', 'secrets', 'configs', 'depends_on', 'init', 'cap_add',
  'cap_drop', 'hostname', 'extra_hosts', 'read_only', 'sysctls', 'ulimits', 'networks',
]);

/** Keys of `other` the converter reads itself (`restart`: unless `deploy.restart_policy` is set, see `restart.ts`). */
const HANDLED_OTHER = new Set(['restart']);

/**
 * Converts a loaded project into Flotilla objects for stack `stack`: services named
 * `STACK_service`, everything labelled `com.docker.stack.namespace=STACK`. Maps every field
 * `ServiceSpec` supports; for everything else it returns one warning per service and field
 * ("service web: field `privileged` is not supported yet; ignored") and never drops a field
 * silently; fields with no meaning in a cluster (`container_name`, `expose`, …) get one note per
 * file instead (`ignored-fields.ts`). `restart:` is mapped as `docker stack deploy` maps it
 * (`restart.ts`) when `deploy.restart_policy` is absent. A service with `build` runs the image built for
 * it (`options.images`; a placeholder until it is built). Services join the stack's networks (`networks.ts`; `STACK_default` when they
 * list none). Secret and config references carry the object's full name as a placeholder `id`,
 * which the stack deployer replaces with the real id. Throws a ComposeError listing every
 * service that cannot be converted, carrying the warnings found so far.
 */
export function toServiceSpecs(project: ComposeProject, stack: string, options: ConvertOptions = {}): ConvertedStack {
  const warnings: string[] = [];
  const services: ServiceSpec[] = [];
  const problems: ComposeProblem[] = [];
  const networks = toStackNetworks(project, stack, warnings, problems);
  if (problems.length > 0) throw new ComposeError(problems, { warnings });
  const notes = new ClusterFieldNotes();
  for (const name of Object.keys(project.services).sort()) {
    const s = project.services[name];
    if (!s) continue;
    const warn = (field: string, what = 'is not supported yet; ignored'): void => {
      warnings.push(`service ${name}: field \`${field}\` ${what}`);
    };
    for (const k of [...Object.keys(s).filter((x) => !MAPPED.has(x) && x !== 'other'), ...Object.keys(s.other ?? {})]) {
      if (NO_MEANING_IN_A_CLUSTER.has(k)) notes.add(name, s, k);
      else if (LIFECYCLE_HOOKS.has(k)) warn(k, 'is a lifecycle hook, which Flotilla does not run yet; ignored');
      // `build` is read by `build.ts`: a service that builds runs the image built for it.
      else if (k !== 'build' && !HANDLED_OTHER.has(k)) warn(k);
    }
    const input = serviceInput(name, s, project, stack, networks, warn, problems, options.images?.[name]);
    if (input === undefined) continue;
    try {
      services.push(validateServiceSpec(input));
    } catch (err) {
      if (!isApiError(err)) throw err;
      const details = err.details.length > 0 ? err.details : [{ path: '', message: err.message }];
      problems.push(...details.map((d) => ({ code: 'invalid_value' as const, pos: posOf(s), path: `services.${name}`, message: `cannot be converted: ${d.path === '' ? '' : `${d.path}: `}${d.message}` })));
    }
  }
  warnings.push(...notes.lines());
  if (problems.length > 0) throw new ComposeError(problems, { warnings });
  const resources = (kind: 'volumes' | 'secrets' | 'configs'): StackResource[] =>
    Object.keys(project[kind]).sort().map((key) => {
      const config = project[kind][key] ?? {};
      return { key, name: resourceName(stack, key, config), labels: { ...(config['labels'] as Record<string, string> | undefined), [STACK_NAMESPACE_LABEL]: stack }, config };
    });
  return { services, networks, volumes: resources('volumes'), secrets: resources('secrets'), configs: resources('configs'), warnings };
}

function serviceInput(name: string, s: ServiceConfig, project: ComposeProject, stack: string, networks: readonly StackNetwork[], warn: Warn, problems: ComposeProblem[], built?: string): Record<string, unknown> | undefined {
  const d: Deploy = s.deploy ?? {};
  const container: Record<string, unknown> = {
    labels: { ...s.labels, [STACK_NAMESPACE_LABEL]: stack },
    env: Object.entries(s.environment ?? {}).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`),
  };
  // Until it is built (a dry run, `stack config`), a service with `build:` names a placeholder.
  const image = built ?? (s.other?.['build'] === undefined ? s.image : (s.image ?? UNBUILT_IMAGE));
  if (image !== undefined) container['image'] = image;
  if (s.entrypoint) container['command'] = s.entrypoint;
  if (s.command) container['args'] = s.command;
  if (s.working_dir !== undefined) container['workdir'] = s.working_dir;
  if (s.user !== undefined) container['user'] = s.user;
  if (s.stop_signal !== undefined) container['stopSignal'] = s.stop_signal;
  if (s.stop_grace_period !== undefined) container['stopGracePeriodMs'] = s.stop_grace_period;
  Object.assign(container, runtimeFields(s));
  const mounts = toMounts(s, project, stack, warn);
  if (mounts.length > 0) container['mounts'] = mounts;
  for (const kind of ['secrets', 'configs'] as const) {
    const refs = toFileReferences(kind, s[kind], project, stack, warn);
    if (refs.length > 0) container[kind] = refs;
  }
  const h = s.healthcheck;
  if (h) {
    const hc: Record<string, unknown> = { test: h.disable ? ['NONE'] : (h.test ?? ['NONE']) };
    if (h.interval !== undefined) hc['intervalMs'] = h.interval;
    if (h.timeout !== undefined) hc['timeoutMs'] = h.timeout;
    if (h.retries !== undefined) hc['retries'] = h.retries;
    if (h.start_period !== undefined) hc['startPeriodMs'] = h.start_period;
    if (h.start_interval !== undefined) warn('healthcheck.start_interval');
    container['healthcheck'] = hc;
  }

  const spec: Record<string, unknown> = { name: scopedName(stack, name), labels: { ...d.labels, [STACK_NAMESPACE_LABEL]: stack } };
  const mode = d.mode ?? 'replicated';
  spec['mode'] = mode;
  const restart: Record<string, unknown> = {};
  // A job's task is done once it succeeds: only a failure is restarted (as Swarm does).
  if (mode.endsWith('-job')) restart['condition'] = 'on-failure';
  if (d.replicas !== undefined) spec['replicas'] = d.replicas;
  // Swarm's `docker stack deploy`: a replicated job runs `replicas` tasks at once, until `replicas` succeed.
  if (mode === 'replicated-job' && d.replicas !== undefined && d.replicas > 0) spec['job'] = { maxConcurrent: d.replicas, totalCompletions: d.replicas };
  const deps = Object.entries(s.depends_on ?? {});
  if (deps.length > 0) {
    spec['dependsOn'] = deps.map(([other, dep]) => {
      if (dep.restart === true) warn(`depends_on.${other}.restart`, 'is not supported yet (a dependency\'s restart does not restart this service); ignored');
      if (!dep.required) warn(`depends_on.${other}.required`, '`false` is not supported: the dependency is waited for like a required one');
      return { service: scopedName(stack, other), condition: dep.condition };
    });
  }

  const resources: Record<string, unknown> = {};
  for (const kind of ['limits', 'reservations'] as const) {
    const r = d.resources?.[kind];
    if (!r) continue;
    const out: Record<string, number> = {};
    if (r.cpus !== undefined) out['nanoCpus'] = r.cpus;
    if (r.memory !== undefined) out['memoryBytes'] = r.memory;
    for (const k of ['pids', 'generic_resources', 'devices'] as const) if (r[k] !== undefined) warn(`deploy.resources.${kind}.${k}`);
    resources[kind] = out;
  }
  const rp = d.restart_policy;
  const composeRestart = s.other?.['restart'];
  if (!rp && composeRestart !== undefined) {
    const r = mapRestart(composeRestart);
    if (r.kind === 'invalid') {
      problems.push({ code: 'invalid_value', pos: posOfValue(s, 'restart'), path: `services.${name}.restart`, message: r.message });
      return undefined;
    }
    // A job's task is done once it succeeds: `always` would never let it complete.
    if (mode.endsWith('-job') && r.condition === undefined) warn('restart', `("${String(composeRestart)}") does not apply to a job, whose tasks are restarted only on failure; ignored`);
    else if (r.condition !== undefined) restart['condition'] = r.condition;
    if (r.maxAttempts !== undefined) restart['maxAttempts'] = r.maxAttempts;
  }
  if (rp) {
    if (rp.condition !== undefined) restart['condition'] = rp.condition;
    if (rp.delay !== undefined) restart['delayMs'] = rp.delay;
    if (rp.max_attempts !== undefined) restart['maxAttempts'] = rp.max_attempts;
    if (rp.window !== undefined) restart['windowMs'] = rp.window;
  }
  const placement: Record<string, unknown> = {};
  if (d.placement?.constraints) placement['constraints'] = d.placement.constraints;
  if (d.placement?.max_replicas_per_node !== undefined) placement['maxReplicasPerNode'] = d.placement.max_replicas_per_node;
  if (d.placement?.preferences?.length) placement['preferences'] = d.placement.preferences.map((p) => ({ spread: p.spread }));

  const ports: Record<string, unknown>[] = [];
  (s.ports ?? []).forEach((p, i) => {
    const at = `ports[${i}]`;
    if (p.published === undefined || !/^\d+$/.test(p.published)) {
      warn(at, p.published === undefined ? 'has no published port, which is not supported yet; ignored' : `publishes a port range ("${p.published}"), which is not supported yet; ignored`);
      return;
    }
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') return warn(at, `uses protocol "${p.protocol}", which is not supported; ignored`);
    if (p.host_ip !== undefined) warn(`${at}.host_ip`);
    // Compose's default, and the short syntax's, is ingress (the routing mesh), as in Swarm.
    ports.push({ target: p.target, published: Number(p.published), protocol: p.protocol, mode: p.mode });
  });

  const template: Record<string, unknown> = { container, resources, restartPolicy: restart, placement, networks: toServiceNetworks(name, s, networks, warn) };
  Object.assign(spec, { taskTemplate: template, endpoint: { ports, ...(d.endpoint_mode === undefined ? {} : { mode: d.endpoint_mode }) } });
  const upd = (u: UpdateConfig | undefined, field: string): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (!u) return out;
    if (u.parallelism !== undefined) out['parallelism'] = u.parallelism;
    if (u.delay !== undefined) out['delayMs'] = u.delay;
    if (u.order !== undefined) out['order'] = u.order;
    if (u.monitor !== undefined) out['monitorMs'] = u.monitor;
    if (u.max_failure_ratio !== undefined) out['maxFailureRatio'] = u.max_failure_ratio;
    if (u.failure_action !== undefined) {
      if (field === 'rollback_config' && u.failure_action === 'rollback') warn('deploy.rollback_config.failure_action', '"rollback" is not valid in a rollback; using "pause"');
      else out['failureAction'] = u.failure_action;
    }
    return out;
  };
  spec['updateConfig'] = upd(d.update_config, 'update_config');
  spec['rollbackConfig'] = upd(d.rollback_config, 'rollback_config');
  for (const k of Object.keys(d)) if (k.startsWith('x-')) warn(`deploy.${k}`);
  return spec;
}

/** init, capabilities, hostname, extra hosts, read-only root, sysctls, ulimits: only those the service sets. */
function runtimeFields(s: ServiceConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (s.init !== undefined) out['init'] = s.init;
  if (s.cap_add !== undefined) out['capAdd'] = s.cap_add;
  if (s.cap_drop !== undefined) out['capDrop'] = s.cap_drop;
  if (s.hostname !== undefined) out['hostname'] = s.hostname;
  // The loader writes `HOST=IP`; Docker (and ContainerSpec) take `HOST:IP`.
  if (s.extra_hosts !== undefined) out['extraHosts'] = s.extra_hosts.map((h) => h.replace('=', ':'));
  if (s.read_only !== undefined) out['readOnly'] = s.read_only;
  if (s.sysctls !== undefined) out['sysctls'] = s.sysctls;
  if (s.ulimits !== undefined) out['ulimits'] = s.ulimits;
  return out;
}
