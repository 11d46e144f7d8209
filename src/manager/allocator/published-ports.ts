import { publishedPorts } from '../../api/published-ports.ts';
import type { PortConfig, Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import type { TaskAllocator } from './task-allocator.ts';

/**
 * Allocates a task's published ports (`task.ports`): the host-mode ports of the service spec
 * the task was built from. Host ports need no cluster-wide bookkeeping (the scheduler keeps
 * two tasks binding the same port off one node), so this allocator always signs off.
 */
export const publishedPortsAllocator: TaskAllocator = {
  name: 'published-ports',
  allocate(task, { service }) {
    return { ok: true, task: { ...task, ports: portsFor(task, service) } };
  },
};

/**
 * The published ports of the spec version the task was built from: the service's current
 * spec, or its previous one. A task of a spec the service no longer holds (it will be
 * replaced by the rollout before it reaches a node) keeps what it has.
 */
function portsFor(task: Task, service: Service): PortConfig[] {
  if (task.specVersion === service.specVersion) return publishedPorts(service.spec);
  if (service.previousSpec !== undefined && task.specVersion === service.previousSpecVersion) return publishedPorts(service.previousSpec);
  return task.ports.map((p) => ({ ...p }));
}
