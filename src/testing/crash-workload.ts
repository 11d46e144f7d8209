import type { ServiceSpecInput } from '../client/client.ts';
import type { ServiceSpec } from '../api/service.ts';
import type { WantedService, WantedState } from './crash-invariants.ts';
import type { Prng } from './prng.ts';

/**
 * The crash-consistency workload (test/integration/crash-consistency.test.ts) as data: the
 * operations it makes through the CLI, the state each one leaves when acknowledged
 * (`applyOp`), how they are chosen (`chooseOp`, from a seeded `Prng`) and the command lines
 * and compose files they become. Pure, so the test and its unit test share one model.
 */

/** One service of a stack deploy, by its key in the compose file. */
export interface StackServiceSpec {
  readonly key: string;
  readonly replicas: number;
  readonly image: string;
  /** The value of `CRASH_GEN` in its environment: changed by every deploy or update. */
  readonly gen: number;
}

export type CrashOp =
  | { readonly kind: 'deploy'; readonly stack: string; readonly services: readonly StackServiceSpec[] }
  | { readonly kind: 'stack-rm'; readonly stack: string }
  | { readonly kind: 'create'; readonly service: string; readonly replicas: number; readonly image: string; readonly gen: number }
  | { readonly kind: 'rm'; readonly service: string }
  | { readonly kind: 'scale'; readonly service: string; readonly replicas: number }
  | { readonly kind: 'update'; readonly service: string; readonly image: string; readonly gen: number };

export interface WorkloadOptions {
  /** Every stack and service name starts with it (`crash`). */
  readonly prefix: string;
  /** The images updates switch between (tags of one local image). */
  readonly images: readonly string[];
  /** At most this many stacks (each 1…3 services) and standalone services. Default 2 and 2. */
  readonly maxStacks?: number;
  readonly maxSolos?: number;
  /** Replicas are chosen in 0…maxReplicas. Default 2. */
  readonly maxReplicas?: number;
}

/** The command every task runs: a loop that exits at once on SIGTERM. */
export const TASK_COMMAND = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1; done"] as const;

/** Nothing created yet. */
export const EMPTY_STATE: WantedState = { services: new Map(), stacks: new Map() };

/** The state `op` leaves when it happened on `state`. */
export function applyOp(state: WantedState, op: CrashOp): WantedState {
  const services = new Map(state.services);
  const stacks = new Map(state.stacks);
  switch (op.kind) {
    case 'deploy': {
      const names = op.services.map((s) => stackServiceName(op.stack, s.key));
      // A redeploy without --prune keeps services the files no longer name; this workload
      // always deploys a stack with the same keys, so there are none.
      for (const s of op.services) {
        const name = stackServiceName(op.stack, s.key);
        services.set(name, { name, stack: op.stack, replicas: s.replicas, image: s.image, env: [`CRASH_GEN=${s.gen}`] });
      }
      stacks.set(op.stack, [...new Set([...(stacks.get(op.stack) ?? []), ...names])]);
      break;
    }
    case 'stack-rm':
      for (const name of stacks.get(op.stack) ?? []) services.delete(name);
      stacks.delete(op.stack);
      break;
    case 'create':
      services.set(op.service, { name: op.service, replicas: op.replicas, image: op.image, env: [`CRASH_GEN=${op.gen}`] });
      break;
    case 'rm':
      services.delete(op.service);
      break;
    case 'scale':
      services.set(op.service, { ...mustHave(state, op.service), replicas: op.replicas });
      break;
    case 'update':
      services.set(op.service, { ...mustHave(state, op.service), image: op.image, env: [`CRASH_GEN=${op.gen}`] });
      break;
  }
  return { services, stacks };
}

/** The name of a stack's service (as compose names it). */
export function stackServiceName(stack: string, key: string): string {
  return `${stack}_${key}`;
}

/**
 * The next operation on `state`: deploy a new stack or redeploy one (new replicas, image and
 * generation for each service), scale or update a service, remove a stack, create or remove a
 * standalone service. `gen` is a counter the caller raises each call, so every deploy and
 * update changes what tasks run.
 */
export function chooseOp(rng: Prng, state: WantedState, gen: number, options: WorkloadOptions): CrashOp {
  const { prefix, images } = options;
  const maxStacks = options.maxStacks ?? 2;
  const maxSolos = options.maxSolos ?? 2;
  const maxReplicas = options.maxReplicas ?? 2;
  const stacks = [...state.stacks.keys()];
  const solos = [...state.services.values()].filter((s) => s.stack === undefined).map((s) => s.name);
  const services = [...state.services.keys()];
  const stackSlots = Array.from({ length: maxStacks }, (_, i) => `${prefix}${i + 1}`);
  const soloSlots = Array.from({ length: maxSolos }, (_, i) => `${prefix}-solo${i + 1}`);
  const replicas = (): number => rng.int(0, maxReplicas);
  const roll = rng.next();
  if (stacks.length === 0 || roll < 0.25) {
    const stack = rng.pick(stackSlots);
    const keys = state.stacks.get(stack)?.map((n) => n.slice(stack.length + 1)) ?? ['a', 'b', 'c'].slice(0, rng.int(1, 3));
    return { kind: 'deploy', stack, services: keys.map((key) => ({ key, replicas: replicas(), image: rng.pick(images), gen })) };
  }
  if (roll < 0.5 && services.length > 0) return { kind: 'scale', service: rng.pick(services), replicas: replicas() };
  if (roll < 0.75 && services.length > 0) return { kind: 'update', service: rng.pick(services), image: rng.pick(images), gen };
  if (roll < 0.85) return { kind: 'stack-rm', stack: rng.pick(stacks) };
  const free = soloSlots.filter((s) => !state.services.has(s));
  if (free.length > 0 && (solos.length === 0 || rng.chance(0.5))) return { kind: 'create', service: rng.pick(free), replicas: replicas(), image: rng.pick(images), gen };
  if (solos.length > 0) return { kind: 'rm', service: rng.pick(solos) };
  return { kind: 'scale', service: rng.pick(services), replicas: replicas() };
}

/** The compose file a deploy sends. */
export function composeFile(op: Extract<CrashOp, { kind: 'deploy' }>): string {
  const lines = ['services:'];
  for (const s of op.services) {
    lines.push(
      `  ${s.key}:`,
      `    image: ${s.image}`,
      `    command: ${JSON.stringify(TASK_COMMAND)}`,
      '    environment:',
      `      CRASH_GEN: "${s.gen}"`,
      '    stop_grace_period: 2s',
      '    deploy:',
      `      replicas: ${s.replicas}`,
    );
  }
  return lines.join('\n') + '\n';
}

/**
 * The `flotilla` arguments of `op` (every one detached: it returns once the write is
 * acknowledged, and the cluster converges in the background, where kills also land).
 * `composePath` is where the deploy's compose file was written.
 */
export function cliArgs(op: CrashOp, composePath: string): string[] {
  switch (op.kind) {
    case 'deploy':
      return ['stack', 'deploy', '-c', composePath, op.stack];
    case 'stack-rm':
      return ['stack', 'rm', op.stack];
    case 'create':
      return ['service', 'create', '-d', '--name', op.service, '--replicas', String(op.replicas), '--env', `CRASH_GEN=${op.gen}`, '--stop-grace-period', '2s', op.image, ...TASK_COMMAND];
    case 'rm':
      return ['service', 'rm', op.service];
    case 'scale':
      return ['service', 'scale', '-d', `${op.service}=${op.replicas}`];
    case 'update':
      return ['service', 'update', '-d', '--image', op.image, '--env-add', `CRASH_GEN=${op.gen}`, op.service];
  }
}

/** The spec `POST /v1/services` gets for a `create` (what `cliArgs` makes the CLI send). */
export function createSpec(op: Extract<CrashOp, { kind: 'create' }>): ServiceSpecInput {
  return {
    name: op.service,
    replicas: op.replicas,
    taskTemplate: { container: { image: op.image, command: [...TASK_COMMAND], env: [`CRASH_GEN=${op.gen}`], stopGracePeriodMs: 2_000 } },
  };
}

/** `spec` with an `update` applied (what `service update --image --env-add` does to it). */
export function updatedSpec(spec: ServiceSpec, op: Extract<CrashOp, { kind: 'update' }>): ServiceSpec {
  const container = spec.taskTemplate.container;
  const env = [...container.env.filter((e) => !e.startsWith('CRASH_GEN=')), `CRASH_GEN=${op.gen}`];
  return { ...spec, taskTemplate: { ...spec.taskTemplate, container: { ...container, image: op.image, env } } };
}

/** One line naming `op`, for the test's log. */
export function describeOp(op: CrashOp): string {
  switch (op.kind) {
    case 'deploy':
      return `stack deploy ${op.stack} (${op.services.map((s) => `${s.key}=${s.replicas} ${s.image} gen ${s.gen}`).join(', ')})`;
    case 'stack-rm':
      return `stack rm ${op.stack}`;
    case 'create':
      return `service create ${op.service}=${op.replicas} ${op.image} gen ${op.gen}`;
    case 'rm':
      return `service rm ${op.service}`;
    case 'scale':
      return `service scale ${op.service}=${op.replicas}`;
    case 'update':
      return `service update ${op.service} ${op.image} gen ${op.gen}`;
  }
}

function mustHave(state: WantedState, name: string): WantedService {
  const s = state.services.get(name);
  if (!s) throw new Error(`the workload chose ${name}, which it does not have`);
  return s;
}

/**
 * Per service of `before`, how many of its slots (1…n) no operation of `ops` (applied in
 * order from `before`) touched: its replicas, lowered by every scale, 0 once it is updated,
 * redeployed or removed (with its stack). A task that ran in such a slot must still run, in
 * the same container, after a crash: nothing asked for it to change.
 */
export function keptSlots(before: WantedState, ops: readonly CrashOp[]): Map<string, number> {
  const kept = new Map([...before.services.values()].map((s) => [s.name, s.replicas]));
  let stacks = before.stacks;
  const drop = (name: string): void => {
    if (kept.has(name)) kept.set(name, 0);
  };
  for (const op of ops) {
    switch (op.kind) {
      case 'deploy':
        for (const s of op.services) drop(stackServiceName(op.stack, s.key));
        break;
      case 'stack-rm':
        for (const name of stacks.get(op.stack) ?? []) drop(name);
        break;
      case 'scale': {
        const n = kept.get(op.service);
        if (n !== undefined) kept.set(op.service, Math.min(n, op.replicas));
        break;
      }
      case 'update':
      case 'rm':
      case 'create':
        drop(op.service);
        break;
    }
    if (op.kind === 'deploy' || op.kind === 'stack-rm') stacks = applyOp({ services: new Map(), stacks }, op).stacks;
  }
  return kept;
}
