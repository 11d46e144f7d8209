import { attachments, hasIngressPort, specOfTask, templateNetworks, toTaskNetworks } from './attachments.ts';
import type { TaskAllocator } from './task-allocator.ts';

/**
 * Allocates a task's networks (`task.networks`): the networks of the template the task was
 * built from (`task.spec.networks`), resolved to ids and names with their aliases, in order,
 * then `ingress` last when the service publishes a port in ingress mode. Refuses while a
 * network does not exist ("network front not found") and, for a task on any network, until
 * the service's VIPs are allocated for its current spec (the allocator writes them in the same
 * batch, just before the ballot). A task on no network gets `networks: []`.
 */
export const networksAllocator: TaskAllocator = {
  name: 'networks',
  allocate(task, { service, networks, endpointProblem }) {
    const spec = specOfTask(task, service) ?? service.spec;
    const resolved = attachments(templateNetworks(task.spec), hasIngressPort(spec), networks);
    if (!resolved.ok) return resolved;
    if (resolved.attachments.length > 0 && service.endpointStatus?.specVersion !== service.specVersion) {
      const reason = "waiting for the service's virtual IPs";
      return { ok: false, reason: endpointProblem === undefined ? reason : `${reason}: ${endpointProblem}` };
    }
    return { ok: true, task: { ...task, networks: toTaskNetworks(resolved.attachments) } };
  },
};
