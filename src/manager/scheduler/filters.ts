import { matchConstraint, type Constraint } from '../../api/constraints.ts';
import type { Node } from '../../api/node.ts';
import type { NodeTable } from './node-info.ts';
import { formatCpus, formatBytes, Tally, type Failure } from './reasons.ts';

/**
 * The filter pipeline. A node passes when every filter passes; when one fails, the node is
 * counted under that filter's failure (the first one, in pipeline order) so an unschedulable
 * task can say why no node took it.
 *
 * Static filters (readiness, availability, driver, constraints) depend only on the node and
 * the task template, so they run once per template for a whole plan. Dynamic filters
 * (resources, host ports, replicas per node) depend on what is already placed and are checked
 * again as the plan places tasks.
 */

/** What the tasks of one group (same service and template) ask of a node. */
export interface Demand {
  readonly driver: string;
  readonly constraints: readonly Constraint[];
  readonly nanoCpus: number;
  readonly memoryBytes: number;
  /** Host ports as `8080/tcp` keys. */
  readonly ports: readonly string[];
  /** 0 = unlimited. */
  readonly maxPerNode: number;
}

/** Why a node fails the static filters, or undefined when it passes. */
export function staticFailure(node: Node, driver: string, constraints: readonly Constraint[]): Failure | undefined {
  if (node.status.state !== 'ready') return NOT_READY;
  const availability = node.spec.availability;
  if (availability !== 'active') return availability === 'drain' ? DRAINED : PAUSED;
  if (!node.description.drivers.includes(driver)) {
    return { key: `driver:${driver}`, one: `node lacks driver ${driver}`, many: `nodes lack driver ${driver}` };
  }
  for (const c of constraints) {
    if (!matchConstraint(node, c)) {
      return { key: `constraint:${c.text}`, one: `node fails constraint ${c.text}`, many: `nodes fail constraint ${c.text}` };
    }
  }
  return undefined;
}

/** The nodes that pass the static filters for a template, and how the others failed. */
export interface StaticResult {
  /** Indexes into the table, ascending. */
  readonly eligible: Int32Array;
  readonly rejected: Tally;
}

/** Runs the static filters over every node of the table. O(nodes × constraints). */
export function filterStatic(table: NodeTable, driver: string, constraints: readonly Constraint[]): StaticResult {
  const nodes = table.nodes;
  const eligible = new Int32Array(nodes.length);
  let count = 0;
  const rejected = new Tally();
  for (let i = 0; i < nodes.length; i++) {
    const f = staticFailure(nodes[i] as Node, driver, constraints);
    if (f) rejected.add(f);
    else eligible[count++] = i;
  }
  return { eligible: eligible.subarray(0, count), rejected };
}

/**
 * Code of the dynamic filter node `i` fails for one more task of `demand`, or 0 when it fits.
 * `serviceCount` is how many tasks of the service already hold the node. Hot path: no allocation.
 */
export function dynamicFailure(table: NodeTable, i: number, demand: Demand, serviceCount: number): number {
  if (demand.nanoCpus > 0 && (table.freeCpu[i] as number) < demand.nanoCpus) return LACKS_CPU;
  if (demand.memoryBytes > 0 && (table.freeMem[i] as number) < demand.memoryBytes) return LACKS_MEMORY;
  if (demand.ports.length > 0) {
    const used = table.portsInUse(i);
    if (used) for (const p of demand.ports) if (used.has(p)) return PORT_IN_USE;
  }
  if (demand.maxPerNode > 0 && serviceCount >= demand.maxPerNode) return MAX_REPLICAS;
  return 0;
}

/** Dynamic failure codes (0 = fits). */
export const LACKS_CPU = 1;
export const LACKS_MEMORY = 2;
export const PORT_IN_USE = 3;
export const MAX_REPLICAS = 4;

/** The failure for a dynamic code, worded with the demand's numbers. */
export function dynamicFailureText(code: number, demand: Demand, table: NodeTable, i: number): Failure {
  switch (code) {
    case LACKS_CPU: {
      const cpus = formatCpus(demand.nanoCpus);
      return { key: 'cpu', one: `node lacks ${cpus}`, many: `nodes lack ${cpus}` };
    }
    case LACKS_MEMORY: {
      const mem = formatBytes(demand.memoryBytes);
      return { key: 'memory', one: `node lacks ${mem} of memory`, many: `nodes lack ${mem} of memory` };
    }
    case PORT_IN_USE: {
      const used = table.portsInUse(i);
      const port = demand.ports.find((p) => used?.has(p)) ?? demand.ports[0] ?? '';
      return { key: `port:${port}`, one: `node has port ${port} in use`, many: `nodes have port ${port} in use` };
    }
    default:
      return {
        key: 'max-replicas',
        one: `node already runs the max of ${demand.maxPerNode} per node`,
        many: `nodes already run the max of ${demand.maxPerNode} per node`,
      };
  }
}

const NOT_READY: Failure = { key: 'not-ready', one: 'node not ready', many: 'nodes not ready' };
const PAUSED: Failure = { key: 'paused', one: 'node paused', many: 'nodes paused' };
const DRAINED: Failure = { key: 'drained', one: 'node drained', many: 'nodes drained' };
