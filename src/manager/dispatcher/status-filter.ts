import type { Task, TaskStatus } from '../../api/task.ts';
import { isTerminal, movesForward, ownerOf } from '../../api/task-state.ts';

/**
 * The pure rule for an agent's status report: whether it may be written. A task's state only
 * moves forward; only the node a task is assigned to reports on it; an agent only reports the
 * states it owns.
 */
export type StatusVerdict = 'apply' | 'unknown_task' | 'wrong_node' | 'not_agent_state' | 'backwards' | 'unchanged';

export function judgeStatus(task: Task | undefined, nodeId: string, status: TaskStatus): StatusVerdict {
  if (!task) return 'unknown_task';
  if (task.nodeId !== nodeId) return 'wrong_node';
  if (ownerOf(status.state) !== 'agent') return 'not_agent_state';
  if (status.state !== task.status.state) return movesForward(task.status.state, status.state) ? 'apply' : 'backwards';
  // Same state: a refinement (a container id or an address appearing, a health change, a new
  // message) unless it is final.
  if (isTerminal(status.state) || sameStatus(task.status, status)) return 'unchanged';
  return 'apply';
}

function sameStatus(a: TaskStatus, b: TaskStatus): boolean {
  return (
    a.message === b.message &&
    a.err === b.err &&
    a.exitCode === b.exitCode &&
    a.containerId === b.containerId &&
    a.pid === b.pid &&
    a.health === b.health &&
    sameAddresses(a.networks ?? [], b.networks ?? [])
  );
}

/** Same addresses in the same order (an agent reports them in its tasks' network order). */
function sameAddresses(a: TaskStatus['networks'], b: TaskStatus['networks']): boolean {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((x, i) => x.networkId === b[i]?.networkId && x.addr === b[i]?.addr);
}
