import type { Node } from '../../../api/node.ts';
import type { TaskBrief as Task } from '../../../api/task-requests.ts';
import { isTerminal } from '../../../api/task-state.ts';

/** A node's tasks as a drain (or pause) moves them, from what the cluster reports. */
export interface NodeProgress {
  readonly availability: Node['spec']['availability'];
  /** Tasks on the node the orchestrator wants running that run. */
  readonly running: number;
  /** Tasks on the node the orchestrator wants running that do not run yet (assigned … starting). */
  readonly starting: number;
  /** Tasks on the node told to stop that have not ended yet. */
  readonly leaving: number;
  /** Tasks of the services that run (or ran) here, meant to run, not placed on any node yet. */
  readonly waiting: number;
  /** Why the first of those waits (the scheduler's reason). */
  readonly reason: string;
  /** Tasks of those services running on other nodes. */
  readonly elsewhere: number;
}

/** Follows the tasks of `node` and of the services that had tasks on it. */
export function nodeProgress(node: Node, tasks: Iterable<Task>): NodeProgress {
  const all = [...tasks];
  const services = new Set(all.filter((t) => t.nodeId === node.id).map((t) => t.serviceId));
  let running = 0;
  let starting = 0;
  let leaving = 0;
  let waiting = 0;
  let reason = '';
  let elsewhere = 0;
  for (const t of all) {
    if (!services.has(t.serviceId)) continue;
    const ended = isTerminal(t.status.state);
    if (t.nodeId === node.id) {
      if (t.desiredState === 'running' && !ended) {
        if (t.status.state === 'running') running++;
        else starting++;
      }
      else if (!ended) leaving++;
    } else if (t.desiredState === 'running' && !ended) {
      if (t.nodeId === undefined || t.status.state === 'new' || t.status.state === 'pending') {
        waiting++;
        if (reason === '') reason = t.status.err ?? t.status.message;
      } else if (t.status.state === 'running') elsewhere++;
    }
  }
  return { availability: node.spec.availability, running, starting, leaving, waiting, reason, elsewhere };
}

/** One line on how the node's availability shows in its tasks, and whether the change has settled. */
export function describeNodeProgress(p: NodeProgress): { text: string; settled: boolean } {
  const moved = [
    p.waiting > 0 ? `${p.waiting} replacement(s) waiting${p.reason ? `: ${p.reason}` : ''}` : '',
    p.elsewhere > 0 ? `${p.elsewhere} running on other nodes` : '',
  ].filter((s) => s !== '');
  const rest = moved.length > 0 ? ` · ${moved.join(' · ')}` : '';
  // "running" means running: tasks placed here but not started yet are told apart.
  const starting = p.starting > 0 ? `, ${p.starting} starting` : '';
  switch (p.availability) {
    case 'drain': {
      const here = p.running + p.starting + p.leaving;
      const text = here === 0 ? `Drained: no tasks left on this node${rest}` : `Draining: ${here} task(s) still on this node (${p.leaving} stopping)${rest}`;
      return { text, settled: here === 0 };
    }
    case 'pause':
      return { text: `Paused: no new tasks are placed here; ${p.running} keep running${starting}${rest}`, settled: p.leaving === 0 && p.starting === 0 };
    default:
      return { text: `Active: ${p.running} task(s) running here${starting}${rest}`, settled: p.leaving === 0 && p.starting === 0 };
  }
}
