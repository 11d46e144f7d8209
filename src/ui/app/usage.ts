import type { Node } from '../../api/node.ts';
import type { Service } from '../../api/service.ts';
import { isOnNode } from '../../api/task-state.ts';
import type { TaskLike } from './summary.ts';

/**
 * `STACK_LABEL` of `src/api/stack.ts`, repeated: that module's schemas pull Node modules
 * (`node:crypto`) into the browser bundle. The unit test keeps the two equal.
 */
export const STACK_LABEL = 'com.docker.stack.namespace';

/** What a node has reserved against its capacity, and the tasks that hold it. */
export interface NodeUsage {
  readonly cpuReserved: number;
  readonly cpuTotal: number;
  readonly memReserved: number;
  readonly memTotal: number;
  /** Tasks holding the node: desired running, assigned to it and not ended. */
  readonly tasks: number;
}

/**
 * A node's reservations, counted as the scheduler counts them: every task assigned to it,
 * desired running and not ended, reserves its spec's `resources.reservations`. A task listed
 * without its spec counts its service's current template.
 */
export function nodeUsage(node: Node, tasks: Iterable<TaskLike>, services: ReadonlyMap<string, Service>): NodeUsage {
  let cpu = 0;
  let mem = 0;
  let count = 0;
  for (const t of tasks) {
    if (t.nodeId !== node.id || t.desiredState !== 'running' || !isOnNode(t.status.state)) continue;
    const r = t.spec?.resources.reservations ?? services.get(t.serviceId)?.spec.taskTemplate.resources.reservations;
    cpu += r?.nanoCpus ?? 0;
    mem += r?.memoryBytes ?? 0;
    count++;
  }
  const res = node.description.resources;
  return { cpuReserved: cpu, cpuTotal: res.nanoCpus, memReserved: mem, memTotal: res.memoryBytes, tasks: count };
}

/** The stack an object's labels name, if any. */
export function stackOf(labels: object): string | undefined {
  return (labels as Readonly<Record<string, string | undefined>>)[STACK_LABEL];
}

/** The services that use a secret or config (by id), by name, sorted. */
export function usersOf(kind: 'secret' | 'config', id: string, services: Iterable<Service>): string[] {
  const names: string[] = [];
  for (const s of services) {
    const c = s.spec.taskTemplate.container;
    const refs = (kind === 'secret' ? c.secrets : c.configs) ?? [];
    if (refs.some((r) => r.id === id)) names.push(s.spec.name);
  }
  return names.sort();
}

/** The services of a stack: those it owns by id, or labelled with its name (as Swarm labels them). */
export function stackServices(stack: { spec: { name: string }; resources: { services: readonly string[] } }, services: Iterable<Service>): Service[] {
  const ids = new Set(stack.resources.services);
  return [...services].filter((s) => ids.has(s.id) || stackOf(s.spec.labels) === stack.spec.name).sort((a, b) => a.spec.name.localeCompare(b.spec.name));
}

/** `1.5 CPUs`, `0.25 CPUs` from nanoCPUs. */
export function formatCpus(nano: number): string {
  const n = nano / 1e9;
  return `${Number.isInteger(n) ? n : n.toFixed(2).replace(/0$/, '')} CPU${n === 1 ? '' : 's'}`;
}

/** `512 MiB`, `1.5 GiB` from bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 || Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}

/** 0..1 of `total` (0 when the total is unknown). */
export function fraction(used: number, total: number): number {
  return total > 0 ? Math.min(1, used / total) : 0;
}
