import type { Node } from '../../../api/node.ts';
import type { Demand } from '../demand.ts';
import type { NodeTable } from '../node-info.ts';
import type { Failure } from '../reasons.ts';

/**
 * A scheduler filter: one rule a node must pass to take a task. Each lives in its own file
 * and is listed, in order, in `pipeline.ts`; a node failing several is counted under the
 * first. `explain` words the failure for the reason of an unplaceable task (only called on
 * a node that failed `check`).
 */

/** Depends only on the node and the task template: run once per template for a whole plan. */
export interface StaticFilter {
  readonly name: string;
  /**
   * What of the demand the filter reads, as a string: groups whose keys are all equal share
   * one static result (today: the driver and the constraints).
   */
  cacheKey(demand: Demand): string;
  check(node: Node, demand: Demand): boolean;
  explain(node: Node, demand: Demand): Failure;
}

/**
 * Depends on what is already placed (free resources, bound ports, tasks per node): checked
 * again as the plan places tasks. Hot path: `check` must not allocate.
 */
export interface DynamicFilter {
  readonly name: string;
  /** Whether the filter has anything to check for this demand; when not, it is left out of the group's loop. */
  appliesTo(demand: Demand): boolean;
  /** `serviceCount`: tasks of the group's service already holding node `i`. */
  check(table: NodeTable, i: number, demand: Demand, serviceCount: number): boolean;
  explain(table: NodeTable, i: number, demand: Demand): Failure;
}
