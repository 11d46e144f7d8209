import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import type { PlanBuilder } from './builder.ts';
import type { Group } from './group.ts';
import { globalFit } from './node-health.ts';

const noEviction = (): undefined => undefined;

/**
 * The node diff of a global service: one group per node of the cluster and per node that
 * still has tasks of the service. A node that may run the service wants one live task; new
 * tasks are created with the node preset (no slot). A node that is drained, down, removed or
 * no longer matching gets its task shut down, without replacement. Pure.
 */
export function globalGroups(b: PlanBuilder, service: Service, tasks: readonly Task[]): Group[] {
  const byNode = new Map<string, Task[]>();
  const strays: Task[] = [];
  for (const t of tasks) {
    if (t.nodeId === undefined) {
      strays.push(t);
      continue;
    }
    let list = byNode.get(t.nodeId);
    if (!list) byNode.set(t.nodeId, (list = []));
    list.push(t);
  }
  const nodeIds = new Set([...b.nodes.keys(), ...byNode.keys()]);
  const groups: Group[] = [];
  for (const nodeId of [...nodeIds].sort()) {
    const fit = globalFit(b.nodes.get(nodeId), service.spec.taskTemplate);
    groups.push({
      tasks: byNode.get(nodeId) ?? [],
      placement: { nodeId },
      wanted: fit.canRun,
      canCreate: fit.canStart,
      evict: noEviction,
      unwanted: 'shutdown',
      dropHistory: !b.nodes.has(nodeId),
    });
  }
  if (strays.length > 0) {
    // Tasks without a node (the service changed mode): none is wanted.
    groups.push({ tasks: strays, placement: { nodeId: '' }, wanted: false, canCreate: false, evict: noEviction, unwanted: 'remove', dropHistory: true });
  }
  return groups;
}
