import { matchConstraint, parseConstraint } from '../api/constraints.ts';
import { isJobMode, jobProgress } from '../api/job.ts';
import type { Node } from '../api/node.ts';
import type { Service, UpdateStatus } from '../api/service.ts';
import type { Task } from '../api/task.ts';
import { isTerminal, NON_TERMINAL_STATES } from '../api/task-state.ts';
import { shortId } from '../lib/ids.ts';

/**
 * The progress of a service towards its spec, as `docker service create|update` shows it: one
 * line per slot (or node, for a global service) with a bar, an overall count, the rollout's
 * status, and whether the wait is over. Pure: a function of the service, its tasks and the
 * nodes, so it is tested without a manager. `wait.ts` is the shell that feeds it.
 */

/** What the wait is for: decides which update states end it and how. */
export type WaitOperation = 'create' | 'update' | 'scale' | 'rollback';

/** One line: a slot (`3/4`) or a node of a global service. */
export interface ProgressLine {
  /** Stable key, to print only what changed. */
  readonly key: string;
  readonly label: string;
  readonly state: string;
  /** 0..1: how far the slot's current task is on its way to up. */
  readonly fraction: number;
  /** A task message worth showing (an error, "no suitable node: …", "pulling image"). */
  readonly note: string;
  readonly up: boolean;
}

export interface ProgressView {
  readonly lines: readonly ProgressLine[];
  readonly up: number;
  readonly total: number;
  /** `update: <message>` style text of the rollout, when there is one to show. */
  readonly status: string | undefined;
  /** Every slot runs the current spec and is up, and no rollout is in progress. */
  readonly converged: boolean;
  /** Set when the wait is over and failed: the one-line reason. */
  readonly failure: string | undefined;
}

/** States on the way to `running`, in order: a slot's bar fills as its task moves along them. */
const PROGRESS_STATES = NON_TERMINAL_STATES;

/** Whether a task's spec carries a probe the agent runs (not `["NONE"]`). */
function hasHealthcheck(task: Task): boolean {
  const hc = task.spec.container.healthcheck;
  if (!hc) return false;
  if (hc.test?.[0] === 'NONE') return false;
  return hc.test !== undefined || hc.http !== undefined || hc.tcp !== undefined;
}

/** Up: running, and healthy when it has a health check (what a rolling update waits for). */
export function isUp(task: Task): boolean {
  if (task.status.state !== 'running') return false;
  if (task.status.health === 'unhealthy' || task.status.health === 'starting') return false;
  return !hasHealthcheck(task) || task.status.health === 'healthy';
}

function sameStatus(a: UpdateStatus | undefined, b: UpdateStatus | undefined): boolean {
  return a?.state === b?.state && a?.startedAt === b?.startedAt && a?.message === b?.message;
}

/** Newest first; among equals, the task still wanted running first. */
function newest(tasks: readonly Task[]): Task | undefined {
  return [...tasks].sort(
    (a, b) => Number(b.desiredState === 'running') - Number(a.desiredState === 'running') || b.createdAt.localeCompare(a.createdAt),
  )[0];
}

function lineFor(key: string, label: string, task: Task | undefined, specVersion: number): ProgressLine {
  if (!task) return { key, label, state: 'waiting', fraction: 0, note: '', up: false };
  const { state, message, err } = task.status;
  if (task.specVersion !== specVersion) {
    if (isTerminal(state)) return { key, label, state, fraction: 0, note: err ?? '', up: false };
    return { key, label, state: task.desiredState === 'running' ? 'to update' : 'stopping', fraction: 0, note: '', up: false };
  }
  if (isTerminal(state) || task.desiredState !== 'running') {
    return { key, label, state, fraction: 0, note: err ?? message, up: false };
  }
  const up = isUp(task);
  if (state === 'running' && !up) {
    return { key, label, state: task.status.health ?? 'starting', fraction: (PROGRESS_STATES.length - 0.5) / PROGRESS_STATES.length, note: 'health check', up };
  }
  const i = PROGRESS_STATES.indexOf(state);
  const fraction = i < 0 ? 0 : (i + 1) / PROGRESS_STATES.length;
  return { key, label, state, fraction, note: state === 'running' || ROUTINE.has(message.toLowerCase()) || message === state ? '' : message, up };
}

/** Task messages that only restate the step (the bar shows it): not repeated as a note. */
const ROUTINE = new Set(['', 'allocated', 'scheduled', 'created', 'started', 'starting', 'preparing', 'accepted']);

/** Nodes a global service should run on: ready, active, with its driver, matching its constraints. */
function eligibleNodes(service: Service, nodes: readonly Node[]): Node[] {
  const constraints = service.spec.taskTemplate.placement.constraints.map(parseConstraint);
  return nodes.filter(
    (n) =>
      n.status.state === 'ready' &&
      n.spec.availability === 'active' &&
      n.description.drivers.includes(service.spec.taskTemplate.driver) &&
      constraints.every((c) => 'error' in c || matchConstraint(n, c)),
  );
}

/**
 * The progress of `service` given its tasks (all of them, history included) and the nodes.
 * `baseline` is the update status the service had right after the command's write: a rollout
 * state that differs from it is this command's outcome; an unchanged one is old news.
 */
export function progressView(
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  op: WaitOperation,
  baseline: UpdateStatus | undefined,
): ProgressView {
  const mine = tasks.filter((t) => t.serviceId === service.id);
  if (isJobMode(service.spec.mode)) return jobView(service, mine);
  const specVersion = service.specVersion;
  const lines: ProgressLine[] = [];
  let extra = 0;
  if (service.spec.mode === 'global') {
    const hostnames = new Map(nodes.map((n) => [n.id, n.description.hostname]));
    for (const n of eligibleNodes(service, nodes)) {
      lines.push(lineFor(n.id, hostnames.get(n.id) ?? shortId(n.id), newest(mine.filter((t) => t.nodeId === n.id)), specVersion));
    }
  } else {
    const total = service.spec.replicas;
    for (let slot = 1; slot <= total; slot++) {
      lines.push(lineFor(`slot-${slot}`, `${slot}/${total}`, newest(mine.filter((t) => t.slot === slot)), specVersion));
    }
    extra = mine.filter((t) => (t.slot ?? 0) > total && t.desiredState === 'running' && !isTerminal(t.status.state)).length;
  }
  const up = lines.filter((l) => l.up).length;
  const us = service.updateStatus;
  const changed = !sameStatus(us, baseline);
  const rolling = us?.state === 'updating' || us?.state === 'rollback_started';
  const status = us && (changed || rolling) ? `${us.state.replace('_', ' ')}: ${us.message}` : undefined;
  const converged = up === lines.length && extra === 0 && !rolling;
  return { lines, up, total: lines.length, status, converged, failure: failureOf(op, us, changed) };
}

function failureOf(op: WaitOperation, us: UpdateStatus | undefined, changed: boolean): string | undefined {
  if (!us) return undefined;
  const why = us.message ? `: ${us.message}` : '';
  if (us.state === 'rollback_paused' && (changed || op !== 'update')) return `rollback paused${why}`;
  if (us.state === 'paused' && (changed || op === 'create' || op === 'scale')) return `update paused${why}`;
  if (us.state === 'rollback_completed' && changed && op === 'update') return `update rolled back${why}`;
  return undefined;
}

const BAR_WIDTH = 50;

/** `[=====>    ]`, docker's bar. */
export function bar(fraction: number): string {
  const filled = Math.max(0, Math.min(BAR_WIDTH, Math.round(fraction * BAR_WIDTH)));
  if (filled === 0) return `[${' '.repeat(BAR_WIDTH + 1)}]`;
  return `[${'='.repeat(filled)}>${' '.repeat(BAR_WIDTH - filled)}]`;
}

/** The text of one line: `1/4: running   [==…>]` (and a note, if any). */
export function formatLine(line: ProgressLine, labelWidth: number): string {
  const head = `${line.label}:`.padEnd(labelWidth + 2);
  const text = `${head}${line.state.padEnd(10)}${bar(line.fraction)}`;
  return line.note ? `${text} ${line.note.replace(/[\r\n]+/g, ' ')}` : text;
}

/** Every line of the display, in order: overall progress, one per slot, the rollout status. */
export function formatView(view: ProgressView): Array<{ key: string; text: string }> {
  const width = Math.max(0, ...view.lines.map((l) => l.label.length));
  const out = [{ key: 'overall', text: `overall progress: ${view.up} out of ${view.total} tasks` }];
  for (const l of view.lines) out.push({ key: l.key, text: formatLine(l, width) });
  if (view.status) out.push({ key: 'status', text: view.status });
  return out;
}

/** Failed attempts of the current spec after which a job without `maxAttempts` counts as failed. */
export const FAILED_ATTEMPTS = 3;

/** The newest error among the service's tasks of the current spec. */
export function lastError(service: Service, tasks: readonly Task[]): string | undefined {
  const current = tasks.filter((t) => t.specVersion >= service.specVersion);
  return [...current].sort((a, b) => b.status.timestamp.localeCompare(a.status.timestamp)).find((t) => t.status.err)?.status.err;
}

/**
 * A job's progress: one line of completions. The wait is over when the run completed, and
 * failed when no task is left running and the failures used up the restart policy's attempts
 * (or `FAILED_ATTEMPTS` when it sets none).
 */
function jobView(service: Service, tasks: readonly Task[]): ProgressView {
  const p = jobProgress(service, tasks);
  const limit = service.spec.taskTemplate.restartPolicy.maxAttempts;
  const out = limit > 0 ? limit + 1 : FAILED_ATTEMPTS;
  const err = lastError(service, tasks);
  const failure = !p.done && p.active === 0 && p.failed >= out ? `job ${service.spec.name} failed ${p.failed} time(s)${err ? `: ${err}` : ''}` : undefined;
  const note = p.done ? 'completed' : p.failed > 0 ? `${p.failed} failed${err ? `: ${err}` : ''}` : '';
  const line: ProgressLine = {
    key: 'job',
    label: `${p.completed}/${p.wanted} completed`,
    state: p.done ? 'complete' : p.active > 0 ? 'running' : 'pending',
    fraction: p.wanted === 0 ? 1 : p.completed / p.wanted,
    note,
    up: p.done,
  };
  return { lines: [line], up: p.done ? 1 : 0, total: 1, status: undefined, converged: p.done, failure };
}
