import { isJobMode, jobProgress } from '../api/job.ts';
import type { Node } from '../api/node.ts';
import type { Service } from '../api/service.ts';
import type { Task } from '../api/task.ts';
import { isBefore, isFailure } from '../api/task-state.ts';
import type { CommandContext } from './context.ts';
import { bar, FAILED_ATTEMPTS, lastError, progressView } from './progress.ts';
import { stderrPrinter, WaitFailure, watchUntilDone } from './wait.ts';

/**
 * `stack deploy --wait`: one live line per service of the stack until every one has converged
 * (services: every slot up on the current spec; jobs: their run completed) or one failed
 * (a rollout paused or rolled back, a job out of attempts, a service whose tasks keep failing).
 * Follows the event stream and re-reads the stack's services and tasks per burst of changes.
 */


/** A service as the deploy left it, and whether the deploy created or updated it. */
export interface WrittenService {
  readonly service: Service;
  readonly op: 'create' | 'update';
}

export interface ServiceState {
  readonly name: string;
  readonly text: string;
  readonly converged: boolean;
  readonly failure: string | undefined;
}

/** Where one service of a deploying stack stands. Pure. */
export function serviceState(service: Service, tasks: readonly Task[], nodes: readonly Node[], written: WrittenService): ServiceState {
  const name = service.spec.name;
  const mine = tasks.filter((t) => t.serviceId === service.id);
  const current = mine.filter((t) => t.specVersion >= service.specVersion);
  const lastErr = lastError(service, mine);
  const waiting = current.find((t) => t.desiredState === 'running' && isBefore(t.status.state, 'assigned') && t.status.message)?.status.message;
  if (isJobMode(service.spec.mode)) {
    const p = jobProgress(service, mine);
    const view = progressView(service, mine, nodes, written.op, written.service.updateStatus);
    const note = p.done ? 'completed' : (waiting ?? view.lines[0]?.note ?? '');
    return { name, text: `${p.completed}/${p.wanted} completed ${bar(p.wanted === 0 ? 0 : p.completed / p.wanted)} ${note}`.trimEnd(), converged: p.done, failure: view.failure };
  }
  const view = progressView(service, mine, nodes, written.op, written.service.updateStatus);
  const failedCount = current.filter((t) => isFailure(t.status.state)).length;
  let failure = view.failure;
  if (!failure && !view.converged && failedCount >= FAILED_ATTEMPTS && view.up === 0) failure = `service ${name}: ${failedCount} tasks failed${lastErr ? `: ${lastErr}` : ''}`;
  const note = view.converged ? 'converged' : (view.status ?? waiting ?? view.lines.find((l) => l.note)?.note ?? '');
  return { name, text: `${view.up}/${view.total} running   ${bar(view.total === 0 ? 1 : view.up / view.total)} ${note}`.trimEnd(), converged: view.converged, failure };
}

/**
 * Waits for the named services to converge; throws `WaitFailure` on the first failure, on
 * `--timeout`, or on Ctrl-C. `written` maps a service id to the service as the deploy wrote
 * it (its update status is the baseline a rollout outcome is measured from).
 */
export async function waitForStack(ctx: CommandContext, stack: string, written: ReadonlyMap<string, WrittenService>, flags: { quiet?: boolean; timeout?: string }): Promise<void> {
  const printer = stderrPrinter(ctx, flags);
  const client = ctx.client;
  printer?.header(`Waiting for stack ${stack} to converge`);
  await watchUntilDone(ctx, flags, {
    what: `stack ${stack}`,
    kinds: ['service', 'task', 'node'],
    concerns: (ev) => ev.kind !== 'service' || written.has(ev.object.id),
    check: async () => {
      // All tasks, not `?service=`: a service removed while this waits would make that a 404.
      const [services, tasks, nodes] = await Promise.all([client.listServices({ stack }), client.listTasks(), client.listNodes()]);
      const states = services
        .filter((s) => written.has(s.id))
        .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
        .map((s) => serviceState(s, tasks, nodes, written.get(s.id) ?? { service: s, op: 'create' }));
      const width = Math.max(0, ...states.map((s) => s.name.length));
      printer?.draw(states.map((s) => ({ key: s.name, text: `${s.name.padEnd(width)}  ${s.text}` })));
      const failed = states.find((s) => s.failure !== undefined);
      if (failed?.failure) throw new WaitFailure(failed.failure);
      const done = states.every((s) => s.converged);
      if (done) printer?.header(`Stack ${stack} converged`);
      return done;
    },
  });
}
