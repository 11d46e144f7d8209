import { isDeepStrictEqual } from 'node:util';
import { ApiError } from '../../api/errors.ts';
import type { Network } from '../../api/network.ts';
import type { Node } from '../../api/node.ts';
import { portClash } from '../../api/published-ports.ts';
import type { Config, StoredSecret } from '../../api/secret.ts';
import type { FileReference, Service, ServiceSpec } from '../../api/service.ts';
import { withUpdatedSpec } from '../../api/service-rollout.ts';
import { STACK_LABEL, type Stack, type StackChange, type StackSpec } from '../../api/stack.ts';
import type { StackNetwork } from '../../compose/convert.ts';
import type { NewObject } from '../../store/tables.ts';
import { containersOnNetwork } from './network-refs.ts';
import type { FileObjectData } from './stack-load.ts';
import { planNetworks, type NetworkWrites } from './stack-networks.ts';

/**
 * The pure core of a stack deploy: from what the store holds now and what the files ask for,
 * the writes that make the store match — one transaction's worth. Services are created, or
 * updated only when their spec differs (through `withUpdatedSpec`, the same write as
 * `PUT /v1/services`, so a change that touches tasks is a rolling update with `previousSpec`);
 * services no longer in the files are removed with `prune` and otherwise kept (and reported).
 * Secrets and configs are named `STACK_x` and labelled; a secret whose content changed while a
 * service uses it is refused ("rename it"), as Swarm does — secrets are immutable in use.
 * Networks: `stack-networks.ts`. A published port another service holds (an ingress port is
 * the cluster's) is refused, naming the holder.
 */

/** What the store holds that a deploy may touch. */
export interface StackSnapshot {
  readonly stack: Stack | undefined;
  readonly services: readonly Service[];
  readonly secrets: readonly StoredSecret[];
  readonly configs: readonly Config[];
  readonly networks: readonly Network[];
  /** The nodes, for the plain containers they report on networks (a network with some is not pruned). */
  readonly nodes?: readonly Node[];
}

/** What the files ask for, loaded and converted. */
export interface StackTarget {
  readonly name: string;
  readonly stored: StackSpec;
  readonly services: readonly ServiceSpec[];
  readonly secrets: readonly FileObjectData[];
  readonly configs: readonly FileObjectData[];
  /** The networks the services use: the stack's own, and external ones. */
  readonly networks: readonly StackNetwork[];
  readonly warnings: readonly string[];
}

export interface PlanDeps {
  readonly now: number;
  readonly newId: () => string;
  /** Seals a secret's plaintext for the store, bound to the secret's id. */
  readonly seal: (plaintext: Buffer, id: string) => string;
  /** Whether a stored secret holds exactly `plaintext`. */
  readonly holds: (secret: StoredSecret, plaintext: Buffer) => boolean;
}

export interface Writes<T> {
  readonly create: Array<NewObject<T>>;
  readonly update: T[];
  readonly delete: string[];
}

export interface StackPlan {
  readonly stack: { readonly create: NewObject<Stack> } | { readonly update: Stack };
  readonly services: Writes<Service>;
  readonly secrets: Writes<StoredSecret>;
  readonly configs: Writes<Config>;
  readonly networks: NetworkWrites;
  /** In order: networks, secrets, configs, services. */
  readonly changes: StackChange[];
}

const owned = (stack: string, labels: Readonly<Record<string, string>>): boolean => labels[STACK_LABEL] === stack;

/** The plan of `target` over `current`. Throws `ApiError` (nothing is written) when it cannot be applied. */
export function planStack(current: StackSnapshot, target: StackTarget, prune: boolean, deps: PlanDeps): StackPlan {
  const stack = target.name;
  const changes: StackChange[] = [];
  const ids = new Map<string, string>();
  const secrets = planFiles('secret', stack, current.secrets, target.secrets, deps, changes, ids, (id, r, data) => ({
    id,
    spec: { name: r.name, labels: r.labels },
    sizeBytes: data.length,
    sealed: deps.seal(data, id),
  }), (s, data) => deps.holds(s, data), current.services);
  const configs = planFiles('config', stack, current.configs, target.configs, deps, changes, ids, (id, r, data) => ({
    id,
    spec: { name: r.name, labels: r.labels },
    data: data.toString('base64'),
  }), (c, data) => c.data === data.toString('base64'), current.services);

  const services: Writes<Service> = { create: [], update: [], delete: [] };
  const wanted = new Set<string>();
  const serviceIds: string[] = [];
  for (const raw of target.services) {
    const spec = withRealIds(raw, ids);
    wanted.add(spec.name);
    const existing = current.services.find((s) => s.spec.name === spec.name);
    if (!existing) {
      const id = deps.newId();
      services.create.push({ id, spec, specVersion: 1 });
      serviceIds.push(id);
      changes.push({ kind: 'service', name: spec.name, action: 'created' });
      continue;
    }
    if (!owned(stack, existing.spec.labels)) {
      throw new ApiError('already_exists', `service ${spec.name} exists and is not part of stack ${stack}: remove or rename it first`);
    }
    serviceIds.push(existing.id);
    if (isDeepStrictEqual(existing.spec, spec)) {
      changes.push({ kind: 'service', name: spec.name, action: 'unchanged' });
      continue;
    }
    services.update.push(withUpdatedSpec(existing, spec, deps.now));
    changes.push({ kind: 'service', name: spec.name, action: 'updated' });
  }
  for (const s of current.services) {
    if (!owned(stack, s.spec.labels) || wanted.has(s.spec.name)) continue;
    if (prune) {
      services.delete.push(s.id);
      changes.push({ kind: 'service', name: s.spec.name, action: 'removed' });
    } else {
      serviceIds.push(s.id);
      changes.push({ kind: 'service', name: s.spec.name, action: 'kept' });
    }
  }
  // Without prune, a secret or config a kept service still uses stays with the stack.
  const survivors = current.services.filter((s) => !services.delete.includes(s.id));
  const keepOrDrop = <T extends { id: string; spec: { name: string; labels: Readonly<Record<string, string>> } }>(
    kind: 'secret' | 'config',
    all: readonly T[],
    writes: Writes<T>,
    kept: string[],
  ): void => {
    for (const o of all) {
      if (!owned(stack, o.spec.labels) || kept.includes(o.id) || writes.update.some((u) => u.id === o.id)) continue;
      const inUse = survivors.some((s) => refs(s.spec, kind).some((r) => r.id === o.id)) ||
        [...services.create, ...services.update].some((s) => refs(s.spec, kind).some((r) => r.id === o.id));
      if (prune && !inUse) {
        writes.delete.push(o.id);
        changes.push({ kind, name: o.spec.name, action: 'removed' });
      } else {
        kept.push(o.id);
        changes.push({ kind, name: o.spec.name, action: 'kept' });
      }
    }
  };
  keepOrDrop('secret', current.secrets, secrets.writes, secrets.ids);
  keepOrDrop('config', current.configs, configs.writes, configs.ids);

  const next = [...services.create, ...services.update].map((s) => s.spec);
  const after = [...survivors.filter((s) => !services.update.some((u) => u.id === s.id)).map((s) => s.spec), ...next];
  for (const spec of next) {
    const clash = portClash(spec, after.map((o) => ({ spec: o })));
    if (clash) {
      const { port, holder } = clash;
      throw new ApiError('already_exists', `service ${spec.name}: published port ${port.published}/${port.protocol} (${port.mode} mode) is already in use by service ${holder}`);
    }
  }
  const networks = planNetworks(stack, current.networks, target.networks, { current: survivors.map((s) => s.spec), next, containers: (n) => containersOnNetwork(current.nodes ?? [], n) }, prune, deps.newId);

  const resources = { services: serviceIds, secrets: secrets.ids, configs: configs.ids, networks: networks.ids };
  const body = { spec: target.stored, resources, warnings: [...target.warnings] };
  return {
    stack: current.stack ? { update: { ...current.stack, ...body } } : { create: { id: deps.newId(), ...body } },
    services,
    secrets: secrets.writes,
    configs: configs.writes,
    networks: networks.writes,
    changes: [...networks.changes, ...changes],
  };
}

function refs(spec: ServiceSpec, kind: 'secret' | 'config'): readonly FileReference[] {
  return kind === 'secret' ? spec.taskTemplate.container.secrets : spec.taskTemplate.container.configs;
}

/**
 * The converter names a referenced secret or config by its full name (as id and name); the
 * real ids are known only here.
 */
function withRealIds(spec: ServiceSpec, ids: ReadonlyMap<string, string>): ServiceSpec {
  const c = spec.taskTemplate.container;
  if (c.secrets.length === 0 && c.configs.length === 0) return spec;
  const fix = (kind: string, r: FileReference): FileReference => {
    const id = ids.get(`${kind}:${r.id}`) ?? ids.get(`${kind}:${r.name}`);
    if (id === undefined) throw new ApiError('invalid_argument', `service ${spec.name} uses ${kind} ${r.name}, which neither the stack nor the cluster has`);
    return { ...r, id };
  };
  return {
    ...spec,
    taskTemplate: { ...spec.taskTemplate, container: { ...c, secrets: c.secrets.map((r) => fix('secret', r)), configs: c.configs.map((r) => fix('config', r)) } },
  };
}

type FileObject = { id: string; version: number; spec: { name: string; labels: Readonly<Record<string, string>> } };

function planFiles<T extends FileObject>(
  kind: 'secret' | 'config',
  stack: string,
  current: readonly T[],
  target: readonly FileObjectData[],
  deps: PlanDeps,
  changes: StackChange[],
  ids: Map<string, string>,
  make: (id: string, r: FileObjectData['resource'], data: Buffer) => NewObject<T>,
  same: (o: T, data: Buffer) => boolean,
  services: readonly Service[],
): { writes: Writes<T>; ids: string[] } {
  const writes: Writes<T> = { create: [], update: [], delete: [] };
  const owns: string[] = [];
  for (const { resource: r, data } of target) {
    const existing = current.find((o) => o.spec.name === r.name);
    if (data === undefined) {
      // external: used, not owned.
      const name = typeof r.config['name'] === 'string' ? r.config['name'] : r.key;
      const ext = current.find((o) => o.spec.name === name) ?? existing;
      if (!ext) throw new ApiError('invalid_argument', `${kind}s.${r.key}: external ${kind} ${name} does not exist: create it first (flotilla ${kind} create ${name} FILE)`);
      ids.set(`${kind}:${r.name}`, ext.id);
      ids.set(`${kind}:${name}`, ext.id);
      continue;
    }
    if (!existing) {
      const id = deps.newId();
      writes.create.push(make(id, r, data));
      ids.set(`${kind}:${r.name}`, id);
      owns.push(id);
      changes.push({ kind, name: r.name, action: 'created' });
      continue;
    }
    if (!owned(stack, existing.spec.labels)) {
      throw new ApiError('already_exists', `${kind} ${r.name} exists and is not part of stack ${stack}: remove it or give the stack's ${kind} another name`);
    }
    ids.set(`${kind}:${r.name}`, existing.id);
    owns.push(existing.id);
    const labelsSame = isDeepStrictEqual(existing.spec.labels, r.labels);
    if (same(existing, data) && labelsSame) {
      changes.push({ kind, name: r.name, action: 'unchanged' });
      continue;
    }
    if (!same(existing, data)) {
      const users = services.filter((s) => refs(s.spec, kind).some((f) => f.id === existing.id)).map((s) => s.spec.name);
      if (users.length > 0) {
        throw new ApiError('failed_precondition', `${kind} ${r.name} is in use (by ${users.join(', ')}) and cannot change; rename it (a new name in the compose file) to roll out new content`);
      }
    }
    const next = make(existing.id, r, data);
    writes.update.push({ ...existing, ...next, version: existing.version } as T);
    changes.push({ kind, name: r.name, action: 'updated' });
  }
  return { writes, ids: owns };
}
