import { matchConstraint, parseConstraint } from '../../api/constraints.ts';
import type { Node } from '../../api/node.ts';
import type { TaskTemplate } from '../../api/service.ts';

/**
 * What a node's state means for the tasks on it. Pure functions of the node object; an
 * undefined node is one that is no longer in the store.
 */

/** True when tasks on the node will never report again: the node is down or gone. */
export function isNodeLost(node: Node | undefined): boolean {
  return node === undefined || node.status.state === 'down';
}

/**
 * Why a replicated task on this node must move elsewhere, or undefined when it may stay.
 * `pause` keeps tasks where they are (it only stops new placements).
 */
export function evictionReason(node: Node | undefined): string | undefined {
  if (node === undefined) return 'node removed';
  if (node.status.state === 'down') return 'node down';
  if (node.spec.availability === 'drain') return 'node drained';
  return undefined;
}

/** Whether the node satisfies the template's constraints and has its driver. */
export function nodeMatches(node: Node, template: TaskTemplate): boolean {
  if (!node.description.drivers.includes(template.driver)) return false;
  for (const text of template.placement.constraints) {
    const c = parseConstraint(text);
    // Constraints are validated when the spec is written; an unparsable one matches nothing.
    if ('error' in c || !matchConstraint(node, c)) return false;
  }
  return true;
}

/** Where a global service's task on a node stands. */
export interface GlobalFit {
  /** An existing task may keep running there. */
  readonly canRun: boolean;
  /** A new task may be created there. */
  readonly canStart: boolean;
  /** Why it may not run, when it may not. */
  readonly reason?: string;
}

/**
 * A global service runs on every node that is not down or drained and matches its
 * constraints and driver; new tasks start only on `ready` and `active` nodes (a paused node
 * keeps its task but gets no new one; an `unknown` node keeps its task until it is declared
 * down).
 */
export function globalFit(node: Node | undefined, template: TaskTemplate): GlobalFit {
  const evict = evictionReason(node);
  if (evict !== undefined || node === undefined) return { canRun: false, canStart: false, reason: evict ?? 'node removed' };
  if (!nodeMatches(node, template)) {
    return { canRun: false, canStart: false, reason: 'node no longer matches the service constraints or driver' };
  }
  const canStart = node.status.state === 'ready' && node.spec.availability === 'active';
  return { canRun: true, canStart };
}
