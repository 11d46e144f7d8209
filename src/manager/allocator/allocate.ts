import type { PortConfig, Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';

/**
 * The allocator's pure core: the resources a new task needs before it can be scheduled.
 * Today that is its host-mode published ports; networks (an IP per attachment) and service
 * VIPs join here later.
 */

/** The service's published ports a task binds on its node (mode `host`). */
export function hostPorts(service: Service): PortConfig[] {
  return service.spec.endpoint.ports.filter((p) => p.mode === 'host').map((p) => ({ ...p }));
}

/** Whether the allocator has work on this task: new, and wanted running. */
export function needsAllocation(t: Task): boolean {
  return t.status.state === 'new' && t.desiredState === 'running';
}

/**
 * The task with its resources allocated and moved `new` → `pending`, or undefined when there
 * is nothing to do (not new, not wanted, or its service is gone — the orchestrator removes it).
 * Ports are taken from the service when the task was built from its current spec; a task of
 * an older spec keeps the ports it was created with.
 */
export function allocate(t: Task, service: Service | undefined, now: number): Task | undefined {
  if (!needsAllocation(t) || service === undefined) return undefined;
  const ports = service.specVersion === t.specVersion ? hostPorts(service) : t.ports.map((p) => ({ ...p }));
  return {
    ...t,
    ports,
    status: { state: 'pending', message: 'allocated', timestamp: new Date(now).toISOString() },
  };
}
