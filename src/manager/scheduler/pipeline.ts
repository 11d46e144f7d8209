import type { Node } from '../../api/node.ts';
import type { Demand } from './demand.ts';
import { availabilityFilter } from './filters/availability.ts';
import { constraintsFilter } from './filters/constraints.ts';
import { driverFilter } from './filters/driver.ts';
import type { DynamicFilter, StaticFilter } from './filters/filter.ts';
import { hostPortsFilter } from './filters/host-ports.ts';
import { maxReplicasFilter } from './filters/max-replicas.ts';
import { networkFilter } from './filters/network.ts';
import { readyFilter } from './filters/ready.ts';
import { resourcesFilter } from './filters/resources.ts';
import type { NodeTable } from './node-info.ts';
import { Tally, type Failure } from './reasons.ts';

/**
 * The filter pipeline: two ordered lists of filters (one file each under `filters/`). A node
 * passes when every filter passes; when one fails, the node is counted under that filter's
 * failure (the first one, in pipeline order) so an unschedulable task can say why no node
 * took it. Adding a filter (platform, devices) is one file plus a line here.
 *
 * Static filters depend only on the node and the task template, so they run once per
 * template for a whole plan. Dynamic filters depend on what is already placed and are checked
 * again as the plan places tasks; only those that apply to a group's demand are in its loop.
 */
export const STATIC_FILTERS: readonly StaticFilter[] = [readyFilter, availabilityFilter, driverFilter, networkFilter, constraintsFilter];

export const DYNAMIC_FILTERS: readonly DynamicFilter[] = [resourcesFilter, hostPortsFilter, maxReplicasFilter];

/** Why a node fails the static filters, or undefined when it passes. */
export function staticFailure(node: Node, demand: Demand): Failure | undefined {
  for (const f of STATIC_FILTERS) if (!f.check(node, demand)) return f.explain(node, demand);
  return undefined;
}

/** Groups with equal keys share one static result. */
export function staticKey(demand: Demand): string {
  return STATIC_FILTERS.map((f) => f.cacheKey(demand)).join('\0');
}

/** The nodes that pass the static filters for a template, and how the others failed. */
export interface StaticResult {
  /** Indexes into the table, ascending. */
  readonly eligible: Int32Array;
  readonly rejected: Tally;
}

/** Runs the static filters over every node of the table. O(nodes × filters). */
export function filterStatic(table: NodeTable, demand: Demand): StaticResult {
  const nodes = table.nodes;
  const eligible = new Int32Array(nodes.length);
  let count = 0;
  const rejected = new Tally();
  for (let i = 0; i < nodes.length; i++) {
    const f = staticFailure(nodes[i] as Node, demand);
    if (f) rejected.add(f);
    else eligible[count++] = i;
  }
  return { eligible: eligible.subarray(0, count), rejected };
}

/** The dynamic filters that have something to check for `demand`, in pipeline order. */
export function dynamicFiltersFor(demand: Demand): readonly DynamicFilter[] {
  return DYNAMIC_FILTERS.filter((f) => f.appliesTo(demand));
}

/**
 * The first of `filters` (from `dynamicFiltersFor(demand)`) node `i` fails for one more task
 * of `demand`, or undefined when it fits. `serviceCount` is how many tasks of the service
 * already hold the node. Hot path: no allocation.
 */
export function dynamicFailure(
  filters: readonly DynamicFilter[],
  table: NodeTable,
  i: number,
  demand: Demand,
  serviceCount: number,
): DynamicFilter | undefined {
  for (let k = 0; k < filters.length; k++) {
    const f = filters[k] as DynamicFilter;
    if (!f.check(table, i, demand, serviceCount)) return f;
  }
  return undefined;
}
