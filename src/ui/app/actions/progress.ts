import type { Service } from '../../../api/service.ts';
import type { TaskBrief as Task } from '../../../api/task-requests.ts';
import { isTerminal, type TaskState } from '../../../api/task-state.ts';

/**
 * Progress as the cluster reports it, never as the dashboard hopes: every figure here is
 * computed from the services and tasks the event stream delivered (pure functions, so the
 * tests call them directly).
 */

/** One slot of a replicated service (or one node of a global one), as its progress grid shows it. */
export interface SlotProgress {
  /** `1`, `2`, … for a replicated service; the node id for a global one. */
  readonly key: string;
  /** The state of the slot's task the orchestrator wants running (or the last one stopping); `none` when it has none yet. */
  readonly state: TaskState | 'none';
  /** That task runs the service's current spec (`specVersion`): updated. */
  readonly current: boolean;
  /** Older tasks of the slot still stopping (a rolling update, a scale-down). */
  readonly stopping: number;
  /** The task's error, or why it waits. */
  readonly why: string;
  /** Beyond the desired count (scaling down): its tasks are going away. */
  readonly surplus: boolean;
}

/** Whether a task still counts: not ended, or ended but meant to run (about to be restarted). */
function isLive(t: Task): boolean {
  return !isTerminal(t.status.state) || t.desiredState === 'running';
}

/**
 * The slots of `service` from its tasks: slots 1…replicas (and higher ones whose tasks are
 * still stopping) of a replicated service; one entry per node of a global one.
 */
export function slotProgress(service: Service, tasks: readonly Task[]): SlotProgress[] {
  const global = service.spec.mode === 'global' || service.spec.mode === 'global-job';
  const bySlot = new Map<string, Task[]>();
  for (const t of tasks) {
    if (t.serviceId !== service.id || !isLive(t)) continue;
    const key = global ? (t.nodeId ?? '') : String(t.slot ?? 0);
    const list = bySlot.get(key);
    if (list) list.push(t);
    else bySlot.set(key, [t]);
  }
  const desired = global ? 0 : service.spec.replicas;
  const keys = new Set<string>();
  for (let slot = 1; slot <= desired; slot++) keys.add(String(slot));
  for (const k of [...bySlot.keys()].sort(global ? undefined : (a, b) => Number(a) - Number(b))) keys.add(k);
  return [...keys].map((key) => {
    const list = bySlot.get(key) ?? [];
    const wanted = list.filter((t) => t.desiredState === 'running').sort(newestFirst);
    const primary = wanted[0] ?? [...list].sort(newestFirst)[0];
    const stopping = list.filter((t) => t !== primary && !isTerminal(t.status.state)).length;
    const surplus = !global && Number(key) > desired;
    if (!primary) return { key, state: 'none', current: false, stopping, why: '', surplus };
    const why = primary.status.err ?? (primary.status.state === 'pending' || primary.status.state === 'new' ? primary.status.message : '');
    return { key, state: primary.status.state, current: primary.specVersion >= service.specVersion, stopping, why, surplus };
  });
}

function newestFirst(a: Task, b: Task): number {
  return b.specVersion - a.specVersion || b.status.timestamp.localeCompare(a.status.timestamp);
}

/** What the user last asked of a service, to follow until the cluster has done it. */
export type ServiceOperation =
  | { readonly kind: 'scale'; readonly replicas: number }
  /** A change of what tasks run (a new image, a forced restart): a rolling update from `fromVersion`. */
  | { readonly kind: 'update'; readonly what: string; readonly fromVersion: number }
  | { readonly kind: 'rollback'; readonly fromVersion: number }
  | { readonly kind: 'remove'; readonly serviceId: string };

/** How far an operation got: one line to show, and whether it ended (well or not). */
export interface OperationProgress {
  readonly text: string;
  readonly outcome: 'running' | 'done' | 'failed';
}

/** Follows `op` on `service` (undefined once removed) and its tasks. */
export function operationProgress(op: ServiceOperation, service: Service | undefined, tasks: readonly Task[]): OperationProgress {
  if (op.kind === 'remove') {
    const left = tasks.filter((t) => t.serviceId === op.serviceId && !isTerminal(t.status.state)).length;
    if (service) return { text: `Removing: waiting for the manager`, outcome: 'running' };
    return left > 0 ? { text: `Removed; ${left} task(s) stopping`, outcome: 'running' } : { text: 'Removed: every task stopped', outcome: 'done' };
  }
  if (!service) return { text: 'The service was removed', outcome: 'failed' };
  const slots = slotProgress(service, tasks);
  const stopping = slots.reduce((n, s) => n + s.stopping + (s.surplus && s.state !== 'none' && !isTerminal(s.state) ? 1 : 0), 0);
  const wanted = slots.filter((s) => !s.surplus);
  const running = wanted.filter((s) => s.state === 'running').length;
  const tail = stopping > 0 ? `, ${stopping} stopping` : '';
  if (op.kind === 'scale') {
    const waiting = wanted.find((s) => s.why !== '');
    const text = `Scaling to ${op.replicas}: ${running} of ${wanted.length} running${tail}${waiting ? ` · ${waiting.why}` : ''}`;
    return { text, outcome: running === op.replicas && stopping === 0 ? 'done' : 'running' };
  }
  const what = op.kind === 'rollback' ? 'Rollback' : `Rolling update (${op.what})`;
  if (service.specVersion <= op.fromVersion) return { text: `${what}: waiting for the new spec`, outcome: 'running' };
  const updated = wanted.filter((s) => s.current && s.state === 'running').length;
  const status = service.updateStatus;
  const said = status ? ` · ${status.state}${status.message ? `: ${status.message}` : ''}` : '';
  const text = `${what}: ${updated} of ${wanted.length} slots updated${tail}${said}`;
  if (status?.state === 'paused' || status?.state === 'rollback_paused') return { text, outcome: 'failed' };
  if (op.kind === 'update' && status?.state === 'rollback_completed') return { text, outcome: 'failed' };
  const settled = updated === wanted.length && stopping === 0 && status?.state !== 'updating' && status?.state !== 'rollback_started';
  return { text, outcome: settled ? 'done' : 'running' };
}
