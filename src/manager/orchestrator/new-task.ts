import type { PortConfig, Service, ServiceSpec } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';

/** A task as the orchestrator creates it; the store fills `version`, `createdAt`, `updatedAt`. */
export type NewTask = Omit<Task, 'version' | 'createdAt' | 'updatedAt'>;

/** Where a new task goes: a replica slot, or a node for global services. */
export type TaskPlacement = { readonly slot: number } | { readonly nodeId: string };

/** The service's published ports a task binds on its node (mode `host`). */
export function hostPorts(spec: ServiceSpec): PortConfig[] {
  return spec.endpoint.ports.filter((p) => p.mode === 'host').map((p) => ({ ...p }));
}

/** A new task of `service` in state `new`, desired running, from the service's current spec. */
export function buildTask(service: Service, placement: TaskPlacement, now: number, id: string): NewTask {
  const base = {
    id,
    serviceId: service.id,
    serviceName: service.spec.name,
    specVersion: service.specVersion,
    spec: structuredClone(service.spec.taskTemplate),
    ports: hostPorts(service.spec),
    desiredState: 'running' as const,
    status: { state: 'new' as const, message: 'created', timestamp: new Date(now).toISOString() },
  };
  return 'slot' in placement ? { ...base, slot: placement.slot } : { ...base, nodeId: placement.nodeId };
}
