import type { Node } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { isBefore, isTerminal } from '../../api/task-state.ts';
import { isNodeLost } from './node-health.ts';

/** Helpers that classify a task by where it is in its life. Pure. */

/** The orchestrator wants the task running (it occupies its slot or node). */
export function isLive(t: Task): boolean {
  return t.desiredState === 'running';
}

/**
 * True when the task would be stopped as soon as we ask: it already ended, never reached an
 * agent (state before `assigned`), or sits on a node that is down or gone (no agent will
 * report on it again; the agent stops it when it returns and finds it unassigned).
 */
export function stopsAtOnce(t: Task, nodes: ReadonlyMap<string, Node>): boolean {
  if (isTerminal(t.status.state)) return true;
  if (isBefore(t.status.state, 'assigned')) return true;
  return t.nodeId !== undefined && isNodeLost(nodes.get(t.nodeId));
}

/** A task that is not wanted running and will not run again: history, or ready to delete. */
export function isDone(t: Task, nodes: ReadonlyMap<string, Node>): boolean {
  if (isTerminal(t.status.state)) return true;
  return t.desiredState !== 'running' && stopsAtOnce(t, nodes);
}

/**
 * Running, and healthy when it has a health check: its spec's own probe (then health must have
 * been reported healthy) or the image's (health reported; `starting` is not up yet).
 */
export function isUp(t: Task): boolean {
  if (t.status.state !== 'running') return false;
  const health = t.status.health;
  return health === 'healthy' || (health === undefined && !expectsHealth(t));
}

/** Whether the task's spec carries a probe the agent runs (not `["NONE"]`). */
function expectsHealth(t: Task): boolean {
  const hc = t.spec.container.healthcheck;
  if (!hc || hc.test?.[0] === 'NONE') return false;
  return hc.test !== undefined || hc.http !== undefined || hc.tcp !== undefined;
}

/** Milliseconds of an ISO time; `fallback` when it does not parse. */
export function timeOf(iso: string, fallback = 0): number {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? fallback : ms;
}

/** Newest first by creation time (then id, for a stable order). */
export function byNewest(a: Task, b: Task): number {
  return timeOf(b.createdAt) - timeOf(a.createdAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}
