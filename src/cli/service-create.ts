import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import { DEFAULT_PUBLISH_MODE } from '../api/published-ports.ts';
import { addContainerOptions, containerFromFlags, type ContainerFlags } from './container-flags.ts';
import type { CommandContext } from './context.ts';
import { parseFileRef, resolveFileRefs } from './file-refs.ts';
import { numberOrText, parseLabels, parsePublish, UsageError, type PublishSpec } from './parse.ts';
import {
  addEndpointModeOption,
  addHealthOptions,
  addRolloutOptions,
  addTaskOptions,
  applyTaskFlags,
  healthcheckFromFlags,
  parseNetworkFlag,
  rolloutFromFlags,
  type HealthFlags,
  type RolloutFlags,
  type TaskFlags,
} from './service-flags.ts';
import { addWaitOptions, waitForService, type WaitFlags } from './wait.ts';

/** The flags of `service create`, as commander hands them over. */
export interface CreateFlags extends TaskFlags, HealthFlags, RolloutFlags, Partial<ContainerFlags> {
  name?: string;
  replicas?: string;
  mode?: string;
  env: string[];
  label: string[];
  containerLabel: string[];
  constraint: string[];
  publish: string[];
  driver?: string;
  entrypoint?: string;
  secret?: string[];
  config?: string[];
  network?: string[];
  endpointMode?: string;
}

/** A spec to POST, and notes to tell the user (e.g. what a short `--publish` means). */
export interface BuiltSpec {
  spec: Record<string, unknown>;
  notes: string[];
}

/**
 * Turns `service create` flags and positional arguments into the body of `POST /v1/services`.
 * Pure. It parses only what the API cannot take as text (sizes, durations, `--publish`);
 * everything else (negative replicas, constraints, env syntax) goes to the server as given, so
 * the server's validation is the one source of error messages.
 *
 * docker driver: `IMAGE [COMMAND] [ARG...]` — COMMAND and ARGs become `args` (the image's CMD),
 * as with `docker service create`; `--entrypoint` sets `command`.
 * exec driver: `COMMAND [ARG...]` — the whole list becomes `command`.
 */
export function buildServiceSpec(positional: readonly string[], flags: CreateFlags, random: () => string = randomSuffix): BuiltSpec {
  const driver = flags.driver ?? 'docker';
  const notes: string[] = [];
  const [first, ...rest] = positional;
  if (first === undefined) {
    throw new UsageError(driver === 'exec' ? 'service create needs a COMMAND to run with --driver exec' : 'service create needs an IMAGE');
  }
  const container: Record<string, unknown> = {};
  if (driver === 'exec') {
    container['command'] = [first, ...rest];
  } else {
    container['image'] = first;
    if (rest.length > 0) container['args'] = rest;
    if (flags.entrypoint !== undefined) container['command'] = flags.entrypoint.split(/\s+/).filter(Boolean);
  }
  if (flags.env.length > 0) container['env'] = flags.env;
  if (flags.containerLabel.length > 0) container['labels'] = parseLabels(flags.containerLabel, '--container-label');
  const healthcheck = healthcheckFromFlags(flags);
  if (healthcheck) container['healthcheck'] = healthcheck;
  Object.assign(container, containerFromFlags({ mount: [], capAdd: [], capDrop: [], extraHost: [], sysctl: [], ulimit: [], ...flags }));
  if (flags.secret?.length) container['secrets'] = flags.secret.map((t) => parseFileRef(t, '--secret'));
  if (flags.config?.length) container['configs'] = flags.config.map((t) => parseFileRef(t, '--config'));

  const limits: Record<string, unknown> = {};
  const reservations: Record<string, unknown> = {};
  const restartPolicy: Record<string, unknown> = {};
  const placement: Record<string, unknown> = {};
  applyTaskFlags(flags, { container, limits, reservations, restartPolicy, placement });
  if (flags.constraint.length > 0) placement['constraints'] = flags.constraint;

  const ports: PublishSpec[] = [];
  for (const p of flags.publish) {
    const { port, short } = parsePublish(p);
    if (short && SHORT_PUBLISH_MODE === 'host') notes.push(`--publish ${p} publishes in host mode: port ${port.published} on the node that runs each task`);
    ports.push(port);
  }

  const taskTemplate: Record<string, unknown> = { driver, container };
  if (Object.keys(limits).length || Object.keys(reservations).length) taskTemplate['resources'] = { limits, reservations };
  if (Object.keys(restartPolicy).length) taskTemplate['restartPolicy'] = restartPolicy;
  if (Object.keys(placement).length) taskTemplate['placement'] = placement;
  if (flags.network?.length) taskTemplate['networks'] = flags.network.map((n) => parseNetworkFlag(n, '--network'));

  const spec: Record<string, unknown> = { name: flags.name ?? defaultName(driver === 'exec' ? first : imageName(first), random) };
  if (flags.mode !== undefined) spec['mode'] = flags.mode;
  if (flags.replicas !== undefined) spec['replicas'] = numberOrText(flags.replicas);
  if (flags.label.length > 0) spec['labels'] = parseLabels(flags.label, '--label');
  spec['taskTemplate'] = taskTemplate;
  if (ports.length > 0 || flags.endpointMode !== undefined) {
    spec['endpoint'] = { ...(flags.endpointMode !== undefined ? { mode: flags.endpointMode } : {}), ...(ports.length > 0 ? { ports } : {}) };
  }
  const updateConfig = rolloutFromFlags(flags, 'update');
  if (updateConfig) spec['updateConfig'] = updateConfig;
  const rollbackConfig = rolloutFromFlags(flags, 'rollback');
  if (rollbackConfig) spec['rollbackConfig'] = rollbackConfig;
  return { spec, notes };
}

/** What a short `--publish 8080:80` means: the schema's default mode (it leaves `mode` out). */
const SHORT_PUBLISH_MODE = DEFAULT_PUBLISH_MODE;

/** `registry.local:5000/team/web:1.2` → `web`. */
function imageName(image: string): string {
  const noTag = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
  return noTag.slice(noTag.lastIndexOf('/') + 1);
}

/** A name when `--name` is not given: the image (or program) and a random suffix, `busybox-k3f9`. */
function defaultName(base: string, random: () => string): string {
  const clean = basename(base).replace(/[^a-zA-Z0-9_.-]/g, '').replace(/^[^a-zA-Z0-9]+/, '').slice(0, 50) || 'service';
  return `${clean}-${random()}`;
}

function randomSuffix(): string {
  return randomBytes(3).toString('hex').slice(0, 4);
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Registers `service create` on the `service` command group. */
export function registerServiceCreate(service: Command, context: (cmd: Command) => CommandContext): void {
  const create = service
    .command('create')
    .description('Create a new service')
    .usage('[OPTIONS] IMAGE [COMMAND] [ARG...]   (with --driver exec: [OPTIONS] COMMAND [ARG...])')
    .argument('<image-or-command>')
    .argument('[args...]')
    .passThroughOptions()
    .option('--name <name>', 'Service name')
    .option('--replicas <n>', 'Number of tasks')
    .addOption(new Option('--mode <mode>', 'Service mode').choices(['replicated', 'global', 'replicated-job', 'global-job']))
    .option('-e, --env <K=V>', 'Set environment variables', collect, [])
    .option('-l, --label <K=V>', 'Service labels', collect, [])
    .option('--container-label <K=V>', 'Container labels', collect, [])
    .option('--constraint <expr>', 'Placement constraints', collect, [])
    .option('-p, --publish <spec>', 'Publish a port: published=8080,target=80[,mode=ingress|host][,protocol=tcp] or 8080:80', collect, [])
    .option('--network <network>', 'Network to attach to: NAME or name=NAME,alias=ALIAS[,alias=…] (repeatable)', collect, [])
    .option('--entrypoint <command>', 'Overwrite the default ENTRYPOINT of the image')
    .option('--secret <spec>', 'Specify secrets to expose to the service: NAME or source=NAME,target=T,uid=U,gid=G,mode=0400', collect, [])
    .option('--config <spec>', 'Specify configurations to expose to the service: NAME or source=NAME,target=/path,mode=0444', collect, [])
    .addOption(new Option('--driver <driver>', 'Task driver').choices(['docker', 'exec']).default('docker'));
  addEndpointModeOption(create);
  addContainerOptions(create);
  addTaskOptions(create);
  addHealthOptions(create);
  addRolloutOptions(create);
  addWaitOptions(create);
  create.action(async (first: string, args: string[], flags: CreateFlags & WaitFlags, cmd: Command) => {
    const ctx = context(cmd);
    const { spec, notes } = buildServiceSpec([first, ...args], flags);
    const container = (spec['taskTemplate'] as { container: Record<string, unknown> }).container;
    if (flags.secret?.length) container['secrets'] = await resolveFileRefs(ctx.client, 'secret', container['secrets'] as never);
    if (flags.config?.length) container['configs'] = await resolveFileRefs(ctx.client, 'config', container['configs'] as never);
    for (const n of notes) ctx.io.stderr.write(`note: ${n}\n`);
    const created = await ctx.client.createService(spec as never);
    ctx.out(created.id);
    if (flags.detach !== true) await waitForService(ctx, created, 'create', flags);
  });
}
