import type { Network } from '../../api/network.ts';
import type { Node } from '../../api/node.ts';
import type { PortConfig } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { isOnNode } from '../../api/task-state.ts';
import type { DependencySnapshot } from './dependency-gate.ts';

/** What the planner reads: every node, and the non-terminal tasks already placed on nodes. */
export interface ClusterSnapshot {
  readonly nodes: readonly Node[];
  /** Tasks with a `nodeId`; ones that do not hold a node (see `holdsNode`) are ignored. */
  readonly tasks: readonly Task[];
  /** Services and their tasks, for the dependency gate; without it no task is gated. */
  readonly dependencies?: DependencySnapshot;
  /**
   * Networks by id, for tasks on networks (encryption, free slices); without it a task's
   * networks are taken as unencrypted with slices to spare.
   */
  readonly network?: (id: string) => Network | undefined;
}

/**
 * Whether a task counts against its node: placed (assigned … running) and still wanted
 * (desired running). Such tasks reserve resources, bind host ports and count for spread.
 */
export function holdsNode(t: Task): t is Task & { nodeId: string } {
  return t.nodeId !== undefined && t.desiredState === 'running' && isOnNode(t.status.state);
}

/** Whether a task waits for the scheduler: pending and desired running. */
export function isSchedulable(t: Task): boolean {
  return t.status.state === 'pending' && t.desiredState === 'running';
}

/** `8080/tcp`: how a bound host port is keyed. */
export function portKey(p: PortConfig): string {
  return `${p.published}/${p.protocol}`;
}

/** A task's published host ports (`task.ports`, mode `host`) as the keys a node binds. */
export function hostPortKeys(ports: readonly PortConfig[]): string[] {
  const out: string[] = [];
  for (const p of ports) if (p.mode === 'host') out.push(portKey(p));
  return out;
}

/**
 * The planner's working view of the cluster, as arrays indexed by node position (nodes sorted
 * by id, so ties break the same way whatever order the snapshot lists them in). Built once per
 * plan in O(nodes + tasks) and updated in O(1) per placement.
 */
export class NodeTable {
  /** Nodes sorted by id; a node's index is its position here. */
  readonly nodes: readonly Node[];
  /** Node id → index. */
  readonly index: ReadonlyMap<string, number>;
  /** Unreserved nanoCPUs per node (negative when over-committed by earlier decisions). */
  readonly freeCpu: Float64Array;
  /** Unreserved memory bytes per node. */
  readonly freeMem: Float64Array;
  /** Tasks holding each node. */
  readonly taskCount: Int32Array;
  readonly #serviceCounts = new Map<string, Map<number, number>>();
  readonly #ports: Array<Set<string> | undefined>;

  /**
   * @param snapshot the cluster
   * @param services the services whose per-node counts `serviceCounts` will be asked for
   *   (counting only these keeps the build cheap); default every service
   */
  constructor(snapshot: ClusterSnapshot, services?: ReadonlySet<string>) {
    const nodes = [...snapshot.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const n = nodes.length;
    this.nodes = nodes;
    const index = new Map<string, number>();
    const freeCpu = new Float64Array(n);
    const freeMem = new Float64Array(n);
    const taskCount = new Int32Array(n);
    this.#ports = new Array<Set<string> | undefined>(n);
    for (let i = 0; i < n; i++) {
      const node = nodes[i] as Node;
      index.set(node.id, i);
      freeCpu[i] = node.description.resources.nanoCpus;
      freeMem[i] = node.description.resources.memoryBytes;
    }
    this.index = index;
    this.freeCpu = freeCpu;
    this.freeMem = freeMem;
    this.taskCount = taskCount;
    // The hot loop of a plan: every task in the cluster, once.
    for (const t of snapshot.tasks) {
      if (!holdsNode(t)) continue;
      const i = index.get(t.nodeId);
      if (i === undefined) continue;
      const r = t.spec.resources.reservations;
      freeCpu[i] = (freeCpu[i] as number) - r.nanoCpus;
      freeMem[i] = (freeMem[i] as number) - r.memoryBytes;
      taskCount[i] = (taskCount[i] as number) + 1;
      if (t.ports.length > 0) this.#bind(i, hostPortKeys(t.ports));
      if (services === undefined || services.has(t.serviceId)) {
        const counts = this.serviceCounts(t.serviceId);
        counts.set(i, (counts.get(i) ?? 0) + 1);
      }
    }
  }

  /**
   * Node index → number of tasks of the service holding it (only nodes with some). Live:
   * updated by `place`. Complete only for the services named at construction.
   */
  serviceCounts(serviceId: string): Map<number, number> {
    let m = this.#serviceCounts.get(serviceId);
    if (!m) {
      m = new Map();
      this.#serviceCounts.set(serviceId, m);
    }
    return m;
  }

  /** Host port keys bound on a node, or undefined when none. */
  portsInUse(i: number): ReadonlySet<string> | undefined {
    return this.#ports[i];
  }

  /** Records a task on node `i`: reserves its resources, binds its host ports, counts it. */
  place(i: number, serviceId: string, nanoCpus: number, memoryBytes: number, hostPortKeys: readonly string[]): void {
    this.freeCpu[i] = (this.freeCpu[i] as number) - nanoCpus;
    this.freeMem[i] = (this.freeMem[i] as number) - memoryBytes;
    this.taskCount[i] = (this.taskCount[i] as number) + 1;
    const counts = this.serviceCounts(serviceId);
    counts.set(i, (counts.get(i) ?? 0) + 1);
    if (hostPortKeys.length > 0) this.#bind(i, hostPortKeys);
  }

  #bind(i: number, keys: readonly string[]): void {
    let set = this.#ports[i];
    if (!set) {
      set = new Set();
      this.#ports[i] = set;
    }
    for (const k of keys) set.add(k);
  }
}