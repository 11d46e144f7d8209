import type { FastifyInstance } from 'fastify';
import { ApiError, isApiError } from '../../api/errors.ts';
import { LogsQuery, TaskLogLine, type LogQuery, type TaskLogEntry } from '../../api/log-line.ts';
import { ServiceRef } from '../../api/service-requests.ts';
import type { Task } from '../../api/task.ts';
import { mayHaveRun } from '../../api/task-state.ts';
import type { LogSource, RouteContext } from './context.ts';
import { errorResponses } from './errors.ts';
import { resolveService } from './lookup.ts';

/** Whether a task has (or had) a process whose output can be read. */
export function hasLogs(task: Task): boolean {
  return task.nodeId !== undefined && mayHaveRun(task.status.state);
}

/** `GET /v1/services/:idOrName/logs`: newline-delimited JSON of every task's lines. */
export function registerServiceLogRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;

  app.get<{ Params: ServiceRef; Querystring: LogsQuery }>('/v1/services/:idOrName/logs', {
    schema: {
      summary: "Stream a service's logs",
      description:
        'Newline-delimited JSON: one TaskLogLine per line, or `{taskId, error}` when one task\'s log cannot be read. ' +
        'With `follow`, the stream stays open and picks up tasks that start later.',
      tags: ['services'],
      params: ServiceRef,
      querystring: LogsQuery,
      response: { 200: TaskLogLine, ...errorResponses('not_found', 'unavailable') },
    },
    // The agents' sessions, which logs are read over, are the leader's: a follower forwards.
    config: { leader: { interrupted: (error) => ({ taskId: '', error }) } },
    handler: async (req, reply) => {
      const service = resolveService(store.services, req.params.idOrName);
      const source = ctx.deps.logs;
      if (!source) throw new ApiError('unavailable', 'logs are not available on this manager');
      const query: LogQuery = req.query.tail === undefined ? { follow: req.query.follow } : { follow: req.query.follow, tail: req.query.tail };
      const { signal, release } = ctx.streams.open();
      const ac = new AbortController();
      const onAbort = (): void => ac.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache' });
      const write = (entry: TaskLogEntry): void => {
        if (!raw.writableEnded) raw.write(`${JSON.stringify(entry)}\n`);
      };

      const streamed = new Set<string>();
      const pumps: Promise<void>[] = [];
      const startTask = (task: Task): void => {
        if (streamed.has(task.id) || !hasLogs(task)) return;
        streamed.add(task.id);
        pumps.push(pump(source, task, query, ac.signal, write));
      };

      let unsubscribe = (): void => {};
      if (query.follow) {
        unsubscribe = store.watch(
          (ev) => {
            if (ev.kind === 'service' && ev.action === 'delete' && ev.object.id === service.id) ac.abort(new Error('service removed'));
            if (ev.kind === 'task' && ev.action !== 'delete' && ev.object.serviceId === service.id) startTask(ev.object);
          },
          { kinds: ['task', 'service'] },
        );
      }
      for (const t of store.tasks.byService(service.id)) startTask(t);
      raw.on('close', () => ac.abort(new Error('client gone')));

      if (query.follow) {
        await new Promise<void>((resolve) => {
          if (ac.signal.aborted) resolve();
          else ac.signal.addEventListener('abort', () => resolve(), { once: true });
        });
      }
      // Pumps started while waiting are in the array too; settle them all.
      for (let i = 0; i < pumps.length; i++) await pumps[i];
      unsubscribe();
      signal.removeEventListener('abort', onAbort);
      release();
      raw.end();
    },
  });
}

async function pump(source: LogSource, task: Task, query: LogQuery, signal: AbortSignal, write: (e: TaskLogEntry) => void): Promise<void> {
  try {
    for await (const l of source.taskLogs(task, query, signal)) {
      if (signal.aborted) return;
      const entry: TaskLogLine = { taskId: task.id, stream: l.stream, line: l.line };
      if (task.slot !== undefined) entry.slot = task.slot;
      if (task.nodeId !== undefined) entry.nodeId = task.nodeId;
      if (l.time !== undefined) entry.time = l.time;
      write(entry);
    }
  } catch (err) {
    if (signal.aborted) return;
    const message = err instanceof Error ? err.message : String(err);
    write({ taskId: task.id, error: { code: isApiError(err) ? err.code : 'unavailable', message: `cannot read the logs of task ${task.id}: ${message}` } });
  }
}
