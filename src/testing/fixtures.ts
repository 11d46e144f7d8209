/**
 * Plain API objects for tests: complete, valid values with sensible defaults that a test
 * overrides field by field. Overrides merge deeply into plain objects; arrays and other
 * values replace the default. Ids are fresh unless given.
 */
import type { Node } from '../api/node.ts';
import { ServiceSpec, type Service } from '../api/service.ts';
import { decode } from '../api/validate.ts';
import type { Task } from '../api/task.ts';
import { newId } from '../lib/ids.ts';

/** A partial of `T` at every depth (arrays are replaced whole, not merged). */
export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> }
    : T;

const FIXTURE_TIME = '2026-01-01T00:00:00.000Z';

/** 1 CPU in nanoCPUs. */
export const CPU = 1_000_000_000;
/** 1 GiB in bytes. */
export const GIB = 1024 * 1024 * 1024;
/** 1 MiB in bytes. */
export const MIB = 1024 * 1024;

/** A ready, active worker node with 4 CPUs, 8 GiB and the docker driver. */
export function makeNode(overrides: DeepPartial<Node> = {}): Node {
  const id = overrides.id ?? newId();
  const base: Node = {
    id,
    version: 1,
    createdAt: FIXTURE_TIME,
    updatedAt: FIXTURE_TIME,
    spec: { role: 'worker', availability: 'active', labels: {} },
    description: {
      hostname: `host-${id.slice(0, 6)}`,
      platform: { os: 'linux', arch: 'x86_64' },
      resources: { nanoCpus: 4 * CPU, memoryBytes: 8 * GIB },
      drivers: ['docker'],
    },
    status: { state: 'ready', addr: '10.0.0.1', message: '' },
  };
  return merge(base, overrides);
}

/** A replicated service spec running `flotilla/busybox:test` with the docker driver and defaults filled. */
export function makeServiceSpec(overrides: DeepPartial<ServiceSpec> = {}): ServiceSpec {
  // Defaults come from the schema itself, so new spec fields need no change here.
  const base = decode(ServiceSpec, {
    name: 'web',
    taskTemplate: {
      container: { image: 'flotilla/busybox:test', command: ['sleep', '3600'] },
      resources: { limits: {}, reservations: {} },
    },
  }, 'fixture');
  return merge(base, overrides);
}

/** A pending task (desired running, slot 1) of a service `web`, its spec from `makeServiceSpec()`. */
export function makeTask(overrides: DeepPartial<Task> = {}): Task {
  const base: Task = {
    id: newId(),
    version: 1,
    createdAt: FIXTURE_TIME,
    updatedAt: FIXTURE_TIME,
    serviceId: 'svc-web',
    serviceName: 'web',
    slot: 1,
    specVersion: 1,
    spec: makeServiceSpec().taskTemplate,
    ports: [],
    desiredState: 'running',
    status: { state: 'pending', timestamp: FIXTURE_TIME, message: '' },
  };
  return merge(base, overrides);
}

/**
 * A stored service (id `svc-web`, specVersion 1) whose spec is `makeServiceSpec(overrides.spec)`;
 * its id matches `makeTask()`'s default serviceId.
 */
export function makeService(overrides: DeepPartial<Service> = {}): Service {
  const { spec, ...rest } = overrides;
  const base: Service = {
    id: 'svc-web',
    version: 1,
    createdAt: FIXTURE_TIME,
    updatedAt: FIXTURE_TIME,
    spec: makeServiceSpec(spec),
    specVersion: 1,
  };
  return merge(base, rest);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; `undefined` in overrides leaves the default. */
function merge<T>(base: T, overrides: unknown): T {
  if (!isPlainObject(base) || !isPlainObject(overrides)) return (overrides === undefined ? base : overrides) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(out[k]) && isPlainObject(v) ? merge(out[k], v) : v;
  }
  return out as T;
}
