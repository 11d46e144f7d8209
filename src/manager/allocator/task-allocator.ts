import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import type { NetworksReader } from './attachments.ts';

/**
 * One resource a task needs before it can be scheduled (published ports, networks). The
 * allocator runs every `TaskAllocator` of its list in order on a new task; the task moves
 * `new → pending` only when each has signed off — a ballot, as in SwarmKit's allocator. Allocators are pure: no I/O, no clock.
 */
export interface TaskAllocator {
  /** Short and stable: it names the allocator in the reason a task waits (`cannot allocate published-ports: …`). */
  readonly name: string;
  /** The task with this resource allocated, or why it cannot be allocated now. */
  allocate(task: Task, ctx: AllocationContext): Allocation;
}

/** What an allocator may read besides the task. */
export interface AllocationContext {
  /** The task's service as the transaction sees it (tasks of a deleted service are never allocated). */
  readonly service: Service;
  /** The networks table as the transaction sees it. */
  readonly networks: NetworksReader;
  /**
   * Why the service's endpoint (its VIPs) could not be allocated in this pass, if it could not
   * ("network front has no free virtual IP"): a task waiting for the VIPs says so.
   */
  readonly endpointProblem?: string | undefined;
}

/** An allocator's vote: signed off with the task as it allocated it, or refused with a reason. */
export type Allocation = { readonly ok: true; readonly task: Task } | { readonly ok: false; readonly reason: string };
