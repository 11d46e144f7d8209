import type { Task } from '../../api/task.ts';
import type { NewTask } from './new-task.ts';

/**
 * What the orchestrator's pure core decides for one service; the shell (apply.ts) commits
 * each action as one store transaction.
 */
export type Action =
  /** Create a task in an empty slot (or on a node, for global services). */
  | { readonly kind: 'create'; readonly task: NewTask; readonly reason: string }
  /** Raise a task's desired state; it is not replaced (scale down, drained global node…). */
  | { readonly kind: 'stop'; readonly task: Task; readonly desiredState: 'shutdown' | 'remove'; readonly reason: string }
  /** Shut `old` down and create `task` in its place, atomically (restart, node drained, update). */
  | { readonly kind: 'replace'; readonly old: Task; readonly task: NewTask; readonly reason: string }
  /** Delete a dead task (history beyond the limit, or marked for removal). */
  | { readonly kind: 'delete'; readonly task: Task; readonly reason: string };

export interface ServicePlan {
  readonly actions: Action[];
  /** When the service must be looked at again though nothing changes (a restart delay ends). */
  readonly wakeAt: number | undefined;
}
