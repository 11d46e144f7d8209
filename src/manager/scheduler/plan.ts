import { parseConstraint, type Constraint } from '../../api/constraints.ts';
import { sliceLength, type Network } from '../../api/network.ts';
import type { Node } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { cidr } from '../../lib/cidr.ts';
import { dependencyGate } from './dependency-gate.ts';
import type { Demand, DemandNetwork } from './demand.ts';
import type { DynamicFilter } from './filters/filter.ts';
import { hostPortKeys, isSchedulable, NodeTable, type ClusterSnapshot } from './node-info.ts';
import { dynamicFailure, dynamicFiltersFor, filterStatic, staticFailure, staticKey, type StaticResult } from './pipeline.ts';
import { noSuitableNode, Tally } from './reasons.ts';
import { NodeHeap } from './score.ts';

/** The scheduler's decision for one task: run it on this node. */
export interface Assignment {
  readonly taskId: string;
  readonly nodeId: string;
}

/**
 * Why a task waits, as a small fixed set (a metrics label): its service's `dependsOn` is not
 * met; its spec cannot be placed (an invalid constraint, a network not found); the node a
 * global task is pinned to is gone or cannot take it; no node fits.
 */
export type UnschedulableCause = 'dependency' | 'invalid_spec' | 'node_not_found' | 'node_unsuitable' | 'no_suitable_node';

/** A task no node can take now, and why: the status message, and its `cause`. */
export interface Unschedulable {
  readonly taskId: string;
  readonly reason: string;
  readonly cause: UnschedulableCause;
}

/** What `plan` decided; every schedulable input task is in exactly one of the two lists. */
export interface PlanResult {
  readonly assignments: Assignment[];
  readonly unschedulable: Unschedulable[];
}

/**
 * Chooses a node for each pending task. Pure: the result depends only on the arguments.
 *
 * Tasks of a service whose `dependsOn` is not met stay unplaced with the reason
 * (`waiting for db: service_healthy (0 of 1 healthy)`, see `dependency-gate.ts`); this holds for
 * every start of a task, the first and every restart or scale-up.
 *
 * Tasks that already name a node (global services) are checked against that node only and
 * go first, since they cannot go anywhere else. The others are grouped by service and spec
 * version: tasks of a group share one template, so the static filters run once per template
 * and the group is placed from a min-heap of its candidate nodes (see `score.ts`), updated as
 * each task lands. Cost: O(nodes) per group plus O(log nodes) per task, never tasks × nodes.
 *
 * @param snapshot the nodes and the tasks holding them
 * @param pending the tasks to place; ones not pending with desired state running are ignored
 * @param _now the planning time (reserved for time-based scoring; unused today)
 */
export function plan(snapshot: ClusterSnapshot, pending: readonly Task[], _now?: number): PlanResult {
  const table = new NodeTable(snapshot, new Set(pending.map((t) => t.serviceId)));
  const assignments: Assignment[] = [];
  const unschedulable: Unschedulable[] = [];
  const groups = new Map<string, Task[]>();
  const pinned: Task[] = [];
  const gates = new Map<string, string | undefined>();
  for (const t of pending) {
    if (!isSchedulable(t)) continue;
    const waiting = gateOf(snapshot, t.serviceId, gates);
    if (waiting !== undefined) {
      unschedulable.push({ taskId: t.id, reason: waiting, cause: 'dependency' });
      continue;
    }
    if (t.nodeId !== undefined) {
      pinned.push(t);
      continue;
    }
    const key = `${t.serviceId}\0${t.specVersion}\0${t.ports.length > 0 ? hostPortKeys(t.ports).join(',') : ''}`;
    const g = groups.get(key);
    if (g) g.push(t);
    else groups.set(key, [t]);
  }

  const demands = new DemandCache(snapshot.network);
  for (const t of pinned) {
    const nodeId = t.nodeId as string;
    const demand = demands.of(t);
    if ('error' in demand) {
      unschedulable.push({ taskId: t.id, reason: demand.error, cause: 'invalid_spec' });
      continue;
    }
    const i = table.index.get(nodeId);
    if (i === undefined) {
      unschedulable.push({ taskId: t.id, reason: `cannot run on node ${nodeId}: node not found`, cause: 'node_not_found' });
      continue;
    }
    const node = table.nodes[i] as Node;
    let failure = staticFailure(node, demand)?.one;
    if (failure === undefined) {
      // Replicas per node does not apply here: a global service places by node, not by count.
      const byNode = { ...demand, maxPerNode: 0 };
      failure = dynamicFailure(dynamicFiltersFor(byNode), table, i, byNode, 0)?.explain(table, i, byNode).one;
    }
    if (failure !== undefined) {
      unschedulable.push({ taskId: t.id, reason: `cannot run on node ${node.description.hostname}: ${failure}`, cause: 'node_unsuitable' });
      continue;
    }
    assignments.push({ taskId: t.id, nodeId });
    table.place(i, t.serviceId, demand.nanoCpus, demand.memoryBytes, demand.hostPortKeys);
  }

  const statics = new Map<string, StaticResult>();
  const serviceScratch = new Int32Array(table.nodes.length);
  for (const tasks of groups.values()) {
    const first = tasks[0] as Task;
    const demand = demands.of(first);
    if ('error' in demand) {
      for (const t of tasks) unschedulable.push({ taskId: t.id, reason: demand.error, cause: 'invalid_spec' });
      continue;
    }
    const key = staticKey(demand);
    let st = statics.get(key);
    if (!st) {
      st = filterStatic(table, demand);
      statics.set(key, st);
    }
    const filters = dynamicFiltersFor(demand);
    const counts = table.serviceCounts(first.serviceId);
    for (const [i, c] of counts) serviceScratch[i] = c;

    const eligible = st.eligible;
    let candidates = eligible;
    if (filters.length > 0) {
      // Only groups that ask for something a node may run out of need the dynamic pass.
      const fit = new Int32Array(eligible.length);
      let m = 0;
      for (let k = 0; k < eligible.length; k++) {
        const i = eligible[k] as number;
        if (dynamicFailure(filters, table, i, demand, serviceScratch[i] as number) === undefined) fit[m++] = i;
      }
      candidates = fit.subarray(0, m);
    }
    const heap = new NodeHeap(candidates, serviceScratch, table.taskCount);
    let reason: string | undefined;
    for (const t of tasks) {
      const i = heap.top();
      if (i < 0) {
        reason ??= explain(table, st, filters, demand, serviceScratch);
        unschedulable.push({ taskId: t.id, reason, cause: 'no_suitable_node' });
        continue;
      }
      assignments.push({ taskId: t.id, nodeId: (table.nodes[i] as Node).id });
      table.place(i, t.serviceId, demand.nanoCpus, demand.memoryBytes, demand.hostPortKeys);
      serviceScratch[i] = (serviceScratch[i] as number) + 1;
      if (dynamicFailure(filters, table, i, demand, serviceScratch[i] as number) === undefined) heap.replaceTop();
      else heap.pop();
    }
    for (const i of counts.keys()) serviceScratch[i] = 0;
  }
  return { assignments, unschedulable };
}

/** Why a service's tasks may not start yet (its `dependsOn`), once per service. */
function gateOf(snapshot: ClusterSnapshot, serviceId: string, cache: Map<string, string | undefined>): string | undefined {
  const deps = snapshot.dependencies;
  if (deps === undefined) return undefined;
  if (cache.has(serviceId)) return cache.get(serviceId);
  const service = deps.service(serviceId);
  const why = service === undefined || service.spec.dependsOn.length === 0 ? undefined : dependencyGate(deps, service);
  cache.set(serviceId, why);
  return why;
}

/** Why no node can take another task of the group: static rejections plus each eligible node's dynamic failure. */
function explain(
  table: NodeTable,
  st: StaticResult,
  filters: readonly DynamicFilter[],
  demand: Demand,
  serviceCount: Int32Array,
): string {
  const tally = new Tally();
  tally.addAll(st.rejected);
  for (const i of st.eligible) {
    const failed = dynamicFailure(filters, table, i, demand, serviceCount[i] as number);
    if (failed) tally.add(failed.explain(table, i, demand));
  }
  return noSuitableNode(tally);
}

/** Demands per template, with constraints parsed once per distinct constraint list and networks looked up once. */
class DemandCache {
  readonly #constraints = new Map<string, Constraint[] | { error: string }>();
  readonly #networks = new Map<string, DemandNetwork | undefined>();
  readonly #lookup: ((id: string) => Network | undefined) | undefined;

  constructor(lookup: ((id: string) => Network | undefined) | undefined) {
    this.#lookup = lookup;
  }

  constraintKey(t: Task): string {
    return t.spec.placement.constraints.join('\n');
  }

  of(t: Task): Demand | { error: string } {
    const key = this.constraintKey(t);
    let parsed = this.#constraints.get(key);
    if (!parsed) {
      parsed = parseAll(t.spec.placement.constraints);
      this.#constraints.set(key, parsed);
    }
    if ('error' in parsed) return parsed;
    const networks: DemandNetwork[] = [];
    for (const a of t.networks ?? []) {
      const n = this.#network(a.networkId, a.name);
      if (n === undefined) return { error: `network ${a.name} not found` };
      networks.push(n);
    }
    const r = t.spec.resources.reservations;
    return {
      driver: t.spec.driver,
      constraints: parsed,
      nanoCpus: r.nanoCpus,
      memoryBytes: r.memoryBytes,
      hostPortKeys: hostPortKeys(t.ports),
      maxPerNode: t.spec.placement.maxReplicasPerNode,
      networks,
    };
  }

  /** The network as placement sees it; undefined when the snapshot says it is gone. */
  #network(id: string, name: string): DemandNetwork | undefined {
    if (this.#networks.has(id)) return this.#networks.get(id);
    let out: DemandNetwork | undefined;
    if (this.#lookup === undefined) {
      out = { id, name, encrypted: false, full: false, holders: new Set() };
    } else {
      const n = this.#lookup(id);
      if (n !== undefined) {
        const range = cidr(n.subnet);
        // Slice 0 is the VIP block: nodes can hold all the others.
        const capacity = 2 ** (sliceLength(range.prefix) - range.prefix) - 1;
        const holders = new Set(n.slices.map((s) => s.nodeId));
        out = { id, name: n.spec.name, encrypted: n.spec.encrypted, full: n.slices.length >= capacity, holders };
      }
    }
    this.#networks.set(id, out);
    return out;
  }
}

function parseAll(texts: readonly string[]): Constraint[] | { error: string } {
  const out: Constraint[] = [];
  for (const text of texts) {
    const c = parseConstraint(text);
    if ('error' in c) return { error: `invalid placement: ${c.error}` };
    out.push(c);
  }
  return out;
}
