import type { Command } from 'commander';
import type { Network } from '../api/network.ts';
import type { Service, ServiceSpec } from '../api/service.ts';
import { ClientError, isClientError } from '../client/client.ts';
import type { CommandContext } from './context.ts';
import { numberOrText, parseKeyValue, parseLabels, parsePublish, UsageError } from './parse.ts';
import {
  addEndpointModeOption,
  addHealthOptions,
  addRolloutOptions,
  addTaskOptions,
  applyTaskFlags,
  healthcheckFromFlags,
  parseNetworkFlag,
  rolloutFromFlags,
  splitWords,
  type HealthFlags,
  type RolloutFlags,
  type TaskFlags,
} from './service-flags.ts';
import { addWaitOptions, waitForService, type WaitFlags } from './wait.ts';

/** The flags of `service update`, as commander hands them over. */
export interface UpdateFlags extends TaskFlags, HealthFlags, RolloutFlags {
  image?: string;
  args?: string;
  entrypoint?: string;
  envAdd: string[];
  envRm: string[];
  labelAdd: string[];
  labelRm: string[];
  containerLabelAdd: string[];
  containerLabelRm: string[];
  constraintAdd: string[];
  constraintRm: string[];
  publishAdd: string[];
  publishRm: string[];
  networkAdd: string[];
  networkRm: string[];
  endpointMode?: string;
  replicas?: string;
  force?: boolean;
}

/** The flags of `service update` with every list empty: for tests and callers that set a few. */
export const NO_UPDATE_FLAGS: UpdateFlags = {
  envAdd: [],
  envRm: [],
  labelAdd: [],
  labelRm: [],
  containerLabelAdd: [],
  containerLabelRm: [],
  constraintAdd: [],
  constraintRm: [],
  publishAdd: [],
  publishRm: [],
  networkAdd: [],
  networkRm: [],
};

type Mutable = Record<string, unknown>;

function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq < 0 ? entry : entry.slice(0, eq);
}

/**
 * Applies `service update` flags to a copy of `spec` (the service's full spec as the API
 * returned it) and returns the copy; `spec` is not touched. Pure. As in `create`, values the
 * API can take as text go to the server as written so its validation message is the one shown.
 * Removals apply before additions, as docker does. `networks` are the cluster's networks, to
 * match `--network-rm`/`--network-add` references (a name, id or id prefix) with the service's
 * attachments whichever way either names the network.
 */
export function applyUpdateFlags(spec: ServiceSpec, flags: UpdateFlags, networks: readonly Network[] = []): ServiceSpec {
  const next = structuredClone(spec) as ServiceSpec & Mutable;
  const template = next.taskTemplate as ServiceSpec['taskTemplate'] & Mutable;
  const container = template.container as ServiceSpec['taskTemplate']['container'] & Mutable;

  if (flags.image !== undefined) container['image'] = flags.image;
  if (flags.args !== undefined) {
    const args = splitWords(flags.args, '--args');
    if (args.length > 0) container['args'] = args;
    else delete container['args'];
  }
  if (flags.entrypoint !== undefined) {
    const command = splitWords(flags.entrypoint, '--entrypoint');
    if (command.length > 0) container['command'] = command;
    else delete container['command'];
  }

  if (flags.envRm.length > 0 || flags.envAdd.length > 0) {
    const rm = new Set(flags.envRm.map(envKey));
    const add = new Map(flags.envAdd.map((e) => [envKey(e), e]));
    const kept = container.env.filter((e) => !rm.has(envKey(e)) && !add.has(envKey(e)));
    container.env = [...kept, ...add.values()];
  }
  next.labels = editLabels(next.labels, flags.labelRm, flags.labelAdd, '--label-add');
  container.labels = editLabels(container.labels, flags.containerLabelRm, flags.containerLabelAdd, '--container-label-add');

  const health = healthcheckFromFlags(flags, container.healthcheck as Mutable | undefined);
  if (health === null) delete container['healthcheck'];
  else if (health !== undefined) (container as Mutable)['healthcheck'] = health;

  const placement = template.placement as ServiceSpec['taskTemplate']['placement'] & Mutable;
  if (flags.constraintRm.length > 0 || flags.constraintAdd.length > 0) {
    const norm = (c: string): string => c.replace(/\s+/g, '');
    const rm = new Set(flags.constraintRm.map(norm));
    const kept = placement.constraints.filter((c) => !rm.has(norm(c)));
    for (const c of flags.constraintAdd) if (!kept.some((k) => norm(k) === norm(c))) kept.push(c);
    placement.constraints = kept;
  }
  applyTaskFlags(flags, {
    container: container as Mutable,
    limits: template.resources.limits as Mutable,
    reservations: template.resources.reservations as Mutable,
    restartPolicy: template.restartPolicy as Mutable,
    placement: placement as Mutable,
  });

  if (flags.publishRm.length > 0 || flags.publishAdd.length > 0) {
    const rm = flags.publishRm.map((p) => parsePublishRm(p));
    let ports: Mutable[] = next.endpoint.ports.filter((p) => !rm.some((r) => r.port === p.target && (r.protocol === undefined || r.protocol === p.protocol)));
    for (const text of flags.publishAdd) {
      const { port } = parsePublish(text);
      const protocol = port.protocol ?? 'tcp';
      ports = ports.filter((p) => !(p['published'] === port.published && (p['protocol'] ?? 'tcp') === protocol));
      ports.push({ ...port });
    }
    (next.endpoint as Mutable)['ports'] = ports;
  }

  if (flags.networkRm.length > 0 || flags.networkAdd.length > 0) template.networks = editNetworks(next.name, template.networks, flags, networks);
  if (flags.endpointMode !== undefined) (next.endpoint as Mutable)['mode'] = flags.endpointMode;

  if (flags.replicas !== undefined) (next as Mutable)['replicas'] = numberOrText(flags.replicas);
  const update = rolloutFromFlags(flags, 'update', next.updateConfig);
  if (update) (next as Mutable)['updateConfig'] = update;
  const rollback = rolloutFromFlags(flags, 'rollback', next.rollbackConfig);
  if (rollback) (next as Mutable)['rollbackConfig'] = rollback;
  if (flags.force === true) template.forceUpdate = (template.forceUpdate ?? 0) + 1;
  return next;
}

function editLabels(current: Record<string, string>, rm: readonly string[], add: readonly string[], flag: string): Record<string, string> {
  if (rm.length === 0 && add.length === 0) return current;
  const out = { ...current };
  for (const item of rm) delete out[parseKeyValue(item, flag.replace('-add', '-rm'))[0]];
  return { ...out, ...parseLabels(add, flag) };
}

/** The network `ref` names (exact id, exact name, then unique id prefix), if the list has it. */
function findNetwork(ref: string, networks: readonly Network[]): Network | undefined {
  const exact = networks.find((n) => n.id === ref) ?? networks.find((n) => n.spec.name === ref);
  if (exact) return exact;
  const byPrefix = ref.length >= 3 ? networks.filter((n) => n.id.startsWith(ref)) : [];
  return byPrefix.length === 1 ? byPrefix[0] : undefined;
}

/** Whether an attachment's `target` and a user's `ref` name the same network. */
function sameNetwork(target: string, ref: string, networks: readonly Network[]): boolean {
  if (target === ref) return true;
  const a = findNetwork(target, networks);
  return a !== undefined && a === findNetwork(ref, networks);
}

/** `--network-rm` (refused for a network the service is not on), then `--network-add` (refused for one it is on). */
function editNetworks(service: string, current: ServiceSpec['taskTemplate']['networks'], flags: UpdateFlags, networks: readonly Network[]): ServiceSpec['taskTemplate']['networks'] {
  let out = [...current];
  for (const ref of flags.networkRm) {
    const kept = out.filter((a) => !sameNetwork(a.target, ref, networks));
    if (kept.length === out.length) throw new UsageError(`service ${service} is not on network ${ref}`);
    out = kept;
  }
  for (const text of flags.networkAdd) {
    const add = parseNetworkFlag(text, '--network-add');
    if (out.some((a) => sameNetwork(a.target, add.target, networks))) {
      throw new UsageError(`service ${service} is already on network ${add.target} (to change its aliases, --network-rm it and --network-add it again)`);
    }
    out.push({ target: add.target, aliases: add.aliases ?? [] });
  }
  return out;
}

/** `--publish-rm 80`, `80/udp`, or `published=8080,target=80` (the target port is what counts, as docker). */
function parsePublishRm(text: string): { port: number; protocol?: string } {
  const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(text.trim());
  if (m) return m[2] === undefined ? { port: Number(m[1]) } : { port: Number(m[1]), protocol: m[2] };
  const { port } = parsePublish(text);
  if (typeof port.target !== 'number') throw new UsageError(`invalid --publish-rm "${text}": expected a target port like 80 or 80/udp`);
  return port.protocol === undefined ? { port: port.target } : { port: port.target, protocol: port.protocol };
}

/** Conflicts on the PUT are retried this many times, re-reading the service each time. */
const UPDATE_ATTEMPTS = 3;

/** GET, apply the flags, PUT with the version read; on a 409 conflict re-read and try again. */
export async function updateWithRetry(ctx: CommandContext, name: string, flags: UpdateFlags): Promise<Service> {
  for (let attempt = 1; ; attempt++) {
    const current = await ctx.client.getService(name);
    const networks = flags.networkRm.length > 0 || flags.networkAdd.length > 0 ? await ctx.client.listNetworks() : [];
    const spec = applyUpdateFlags(current.spec, flags, networks);
    try {
      return await ctx.client.updateService(current.id, current.version, spec);
    } catch (err) {
      if (!isClientError(err) || err.code !== 'conflict') throw err;
      if (attempt >= UPDATE_ATTEMPTS) {
        throw new ClientError('conflict', `service ${name} kept changing while it was being updated (${UPDATE_ATTEMPTS} attempts): try again`, { cause: err });
      }
    }
  }
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Registers `service update` and `service rollback` on the `service` command group. */
export function registerServiceUpdate(service: Command, context: (cmd: Command) => CommandContext): void {
  const update = service
    .command('update')
    .description('Update a service')
    .argument('<service>')
    .option('--image <image>', 'Service image tag')
    .option('--args <command>', 'Service command args (the image CMD), as one shell-quoted string')
    .option('--entrypoint <command>', 'Overwrite the default ENTRYPOINT of the image')
    .option('--env-add <K=V>', 'Add or update an environment variable', collect, [])
    .option('--env-rm <K>', 'Remove an environment variable', collect, [])
    .option('--label-add <K=V>', 'Add or update a service label', collect, [])
    .option('--label-rm <K>', 'Remove a service label', collect, [])
    .option('--container-label-add <K=V>', 'Add or update a container label', collect, [])
    .option('--container-label-rm <K>', 'Remove a container label', collect, [])
    .option('--constraint-add <expr>', 'Add or update a placement constraint', collect, [])
    .option('--constraint-rm <expr>', 'Remove a placement constraint', collect, [])
    .option('--publish-add <spec>', 'Add or update a published port', collect, [])
    .option('--publish-rm <port>', 'Remove a published port by its target port', collect, [])
    .option('--network-add <network>', 'Add a network: NAME or name=NAME,alias=ALIAS[,alias=…]', collect, [])
    .option('--network-rm <network>', 'Remove a network', collect, [])
    .option('--replicas <n>', 'Number of tasks')
    .option('--force', 'Force update even if no changes require it')
    .option('--rollback', 'Rollback to previous specification (same as `service rollback`)');
  addEndpointModeOption(update);
  addTaskOptions(update);
  addHealthOptions(update);
  addRolloutOptions(update);
  addWaitOptions(update);
  update.action(async (name: string, flags: UpdateFlags & WaitFlags & { rollback?: boolean }, cmd: Command) => {
    const ctx = context(cmd);
    const updated = flags.rollback === true ? await ctx.client.rollbackService(name) : await updateWithRetry(ctx, name, flags);
    ctx.out(updated.spec.name);
    if (flags.detach !== true) await waitForService(ctx, updated, flags.rollback === true ? 'rollback' : 'update', flags);
  });

  const rollback = service
    .command('rollback')
    .description('Revert changes to a service’s configuration')
    .argument('<service>');
  addWaitOptions(rollback);
  rollback.action(async (name: string, flags: WaitFlags, cmd: Command) => {
    const ctx = context(cmd);
    const rolled = await ctx.client.rollbackService(name);
    ctx.out(rolled.spec.name);
    if (flags.detach !== true) await waitForService(ctx, rolled, 'rollback', flags);
  });
}
