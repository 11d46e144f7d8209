import type { DesiredState, Task } from '../../api/task.ts';
import { isAtOrAfter } from '../../api/task-state.ts';

/**
 * Which tasks a node is told about, and what changed since it was last told: the pure core of
 * assignment pushing. A node's assignment set is every task with `nodeId` = the node whose
 * state reached `assigned`, until the task is deleted from the store.
 */

/** What the dispatcher remembers about a task it sent to a node. */
export interface SentTask {
  readonly desiredState: DesiredState;
}

export function isAssignedTo(task: Task, nodeId: string): boolean {
  return task.nodeId === nodeId && isAtOrAfter(task.status.state, 'assigned');
}

/**
 * Whether a task change can change some node's assignment set (so the node needs a diff).
 * Status-only updates, the bulk of task writes, do not: the agent made them itself.
 */
export function affectsAssignments(old: Task | undefined, next: Task | undefined): boolean {
  if (!old || !next) return true;
  return (
    old.nodeId !== next.nodeId ||
    old.desiredState !== next.desiredState ||
    isAtOrAfter(old.status.state, 'assigned') !== isAtOrAfter(next.status.state, 'assigned')
  );
}

/**
 * Compares the node's current set with what was sent: new tasks and tasks whose desired state
 * changed go out in `tasks`, tasks no longer in the set in `removed`. Updates `sent` to match.
 */
export function diffAssignments(
  current: Iterable<Task>,
  nodeId: string,
  sent: Map<string, SentTask>,
): { tasks: Task[]; removed: string[] } {
  const tasks: Task[] = [];
  const seen = new Set<string>();
  for (const t of current) {
    if (!isAssignedTo(t, nodeId)) continue;
    seen.add(t.id);
    const before = sent.get(t.id);
    if (!before || before.desiredState !== t.desiredState) {
      tasks.push(t);
      sent.set(t.id, { desiredState: t.desiredState });
    }
  }
  const removed: string[] = [];
  for (const id of sent.keys()) {
    if (!seen.has(id)) {
      removed.push(id);
      sent.delete(id);
    }
  }
  return { tasks, removed };
}
