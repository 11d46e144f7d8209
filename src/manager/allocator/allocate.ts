import type { Task } from '../../api/task.ts';
import { TASK_ALLOCATORS } from './allocators.ts';
import type { AllocationContext, TaskAllocator } from './task-allocator.ts';

/**
 * The allocator's pure core: runs the ballot of allocators (`allocators.ts`) on a new task.
 * The task moves `new → pending` only when every allocator signed off; the first that refuses
 * leaves it `new`, its status message saying why (`cannot allocate published-ports: …`).
 */

/** Whether the allocator has work on this task: new, and wanted running. */
export function needsAllocation(t: Task): boolean {
  return t.status.state === 'new' && t.desiredState === 'running';
}

/**
 * The task to write, or undefined when there is nothing to do (not new, not wanted, its
 * service is gone — `ctx` undefined; the orchestrator removes the task — or refused again for
 * the reason it shows).
 * Allocated: every resource on it and state `pending`, message `allocated`. Refused: still
 * `new`, with the refusing allocator's reason as its message (the state's timestamp kept).
 */
export function allocate(
  t: Task,
  ctx: AllocationContext | undefined,
  now: number,
  allocators: readonly TaskAllocator[] = TASK_ALLOCATORS,
): Task | undefined {
  if (!needsAllocation(t) || ctx === undefined) return undefined;
  let next = t;
  for (const a of allocators) {
    const vote = a.allocate(next, ctx);
    if (!vote.ok) {
      const message = `cannot allocate ${a.name}: ${vote.reason}`;
      return t.status.message === message ? undefined : { ...t, status: { ...t.status, message } };
    }
    next = vote.task;
  }
  return { ...next, status: { state: 'pending', message: 'allocated', timestamp: new Date(now).toISOString() } };
}
