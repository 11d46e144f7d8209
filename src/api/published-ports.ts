import type { PortConfig, ServiceSpec } from './service.ts';

/**
 * A task's published ports: the service's published ports in `host` mode, which a task of
 * this spec binds on its node (a task's `ports`). The allocator writes them on the task;
 * others only read them (the orchestrator compares them when it adopts an older task).
 * Ports in `ingress` mode are the routing mesh's, not the task's. Returns fresh copies.
 */
export function publishedPorts(spec: ServiceSpec): PortConfig[] {
  return spec.endpoint.ports.filter((p) => p.mode === 'host').map((p) => ({ ...p }));
}
