import type { Network, TaskNetwork } from '../../api/network.ts';
import type { Node } from '../../api/node.ts';
import { isTerminal } from '../../api/task-state.ts';
import type { Task } from '../../api/task.ts';

/**
 * Which nodes should hold a slice of which network. Pure. A node holds a slice of a network
 * while it has a task on the network that is not terminal (tasks with a `nodeId`: assigned by
 * the scheduler, or global tasks from the start), and always of the `ingress` network and of
 * `attachable` networks (any container there may join them). Slices are not taken back while
 * the node stays in the cluster: its agent keeps the addresses it handed out.
 */

/** Whether a task occupies its node's slices of its networks. */
export function usesSlices(t: Task): t is Task & { nodeId: string; networks: TaskNetwork[] } {
  return t.nodeId !== undefined && t.networks !== undefined && t.networks.length > 0 && !isTerminal(t.status.state);
}

/** Whether every node of the cluster holds a slice of the network. */
export function onEveryNode(n: Network): boolean {
  return n.ingress || n.spec.attachable;
}

/**
 * Network id → the nodes that should hold a slice of it, sorted by id (so slices are handed
 * out in the same order whatever the input order). Only nodes of `nodes` count.
 */
export function wantedSlices(networks: readonly Network[], nodes: readonly Pick<Node, 'id'>[], tasks: Iterable<Task>): Map<string, string[]> {
  const live = new Set(nodes.map((n) => n.id));
  const wanted = new Map<string, Set<string>>();
  for (const n of networks) wanted.set(n.id, new Set(onEveryNode(n) ? live : []));
  for (const t of tasks) {
    if (!usesSlices(t) || !live.has(t.nodeId)) continue;
    for (const a of t.networks) wanted.get(a.networkId)?.add(t.nodeId);
  }
  const out = new Map<string, string[]>();
  for (const [id, set] of wanted) out.set(id, [...set].sort());
  return out;
}

/** Whether a task is on a network its node holds no slice of yet (`network` looks networks up). */
export function lacksSlice(t: Task, network: (id: string) => Network | undefined): boolean {
  if (!usesSlices(t)) return false;
  for (const a of t.networks) {
    const n = network(a.networkId);
    if (n !== undefined && !n.slices.some((s) => s.nodeId === t.nodeId)) return true;
  }
  return false;
}
