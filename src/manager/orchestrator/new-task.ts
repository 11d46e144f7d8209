import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';

/** A task as the orchestrator creates it; the store fills `version`, `createdAt`, `updatedAt`. */
export type NewTask = Omit<Task, 'version' | 'createdAt' | 'updatedAt'>;

/** Where a new task goes: a replica slot, or a node for global services. */
export type TaskPlacement = { readonly slot: number } | { readonly nodeId: string };

/**
 * A new task of `service` in state `new`, desired running, from the service's current spec.
 * Bare: it carries no resources (`ports` empty); the allocator gives it what it needs
 * before it moves to `pending`.
 */
export function buildTask(service: Service, placement: TaskPlacement, now: number, id: string): NewTask {
  const base = {
    id,
    serviceId: service.id,
    serviceName: service.spec.name,
    specVersion: service.specVersion,
    spec: structuredClone(service.spec.taskTemplate),
    ports: [],
    desiredState: 'running' as const,
    status: { state: 'new' as const, message: 'created', timestamp: new Date(now).toISOString() },
  };
  return 'slot' in placement ? { ...base, slot: placement.slot } : { ...base, nodeId: placement.nodeId };
}
