import type { Service, UpdateStatus } from '../../api/service.ts';
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
  | {
      readonly kind: 'replace';
      readonly old: Task;
      /** `remove` when the old task sits on a lost node: it is not kept as history there. */
      readonly oldDesired: 'shutdown' | 'remove';
      readonly task: NewTask;
      readonly reason: string;
    }
  /** Stamp a live task with the current spec version: it already runs that spec (adopt.ts). */
  | { readonly kind: 'adopt'; readonly task: Task; readonly specVersion: number; readonly reason: string }
  /** Delete a dead task (history beyond the limit, or marked for removal). */
  | { readonly kind: 'delete'; readonly task: Task; readonly reason: string }
  /**
   * Write the service's `updateStatus`. `service` is the service as planned: the write is
   * refused (and the service planned again) if its spec version or status changed since.
   */
  | { readonly kind: 'status'; readonly service: Service; readonly status: UpdateStatus; readonly reason: string }
  /** Roll the service back to its previous spec (failure action `rollback`); same guard. */
  | { readonly kind: 'rollback'; readonly service: Service; readonly message: string; readonly at: number; readonly reason: string };

export interface ServicePlan {
  readonly actions: Action[];
  /** When the service must be looked at again though nothing changes (a restart delay ends). */
  readonly wakeAt: number | undefined;
}

/**
 * What a rolling update does with one outdated live task now: `stop` it (stop-first; its slot
 * gets a new task once it stopped), `replace` it at once (it never started, or sits on a lost
 * node), or `start` a new task beside it (start-first; it stops once the new one is up).
 * Outdated tasks without a step wait for a later batch.
 */
export interface UpdateStep {
  readonly task: Task;
  readonly action: 'stop' | 'replace' | 'start';
}
