import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { ClusterEventSchema, EVENT_KINDS, EventQuery, type ClusterEvent, type EventKind } from '../../api/event.ts';
import type { TimerHandle } from '../../lib/clock.ts';
import type { StoreEvent } from '../../store/events.ts';
import type { RouteContext } from './context.ts';
import { errorResponses } from './errors.ts';

const KINDS = EVENT_KINDS;
type Kind = EventKind;

/** A client this far behind is cut off rather than buffered without bound; it can resume. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/** Parses `?kinds=`; throws `invalid_argument` for an unknown kind. */
export function parseKinds(text: string | undefined): Kind[] {
  if (text === undefined || text.trim() === '') return [...KINDS];
  const kinds = text.split(',').map((k) => k.trim()).filter(Boolean);
  for (const k of kinds) {
    if (!(KINDS as readonly string[]).includes(k)) {
      throw new ApiError('invalid_argument', `unknown event kind "${k}": expected ${KINDS.join(', ')}`, {
        details: [{ path: 'kinds', message: `unknown kind ${k}` }],
      });
    }
  }
  return kinds as Kind[];
}

/** The SSE frame of one change: `id:` is the revision, so `Last-Event-ID` resumes after it. */
export function eventFrame(ev: ClusterEvent): string {
  return `id: ${ev.revision}\ndata: ${JSON.stringify(ev)}\n\n`;
}

function toClusterEvent(ev: StoreEvent): ClusterEvent {
  // A secret's sealed data never leaves the manager, not even through the event stream.
  const object = ev.kind === 'secret' ? withoutSealed(ev.object) : ev.object;
  return { revision: ev.revision, kind: ev.kind, action: ev.action, object } as ClusterEvent;
}

function withoutSealed(o: unknown): unknown {
  const { sealed: _sealed, ...rest } = o as { sealed?: unknown };
  return rest;
}

/** Where to resume from: `?since=` wins, else the `Last-Event-ID` header, else live only. */
function resumeRevision(query: EventQuery, lastEventId: string | string[] | undefined): number | undefined {
  if (query.since !== undefined) return query.since;
  const text = Array.isArray(lastEventId) ? lastEventId[0] : lastEventId;
  if (text === undefined || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text.trim());
}

/** `GET /v1/events`: Server-Sent Events of committed store changes, resumable by revision. */
export function registerEventRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store, clock } = ctx.deps;

  app.get<{ Querystring: EventQuery }>('/v1/events', {
    schema: {
      summary: 'Stream cluster changes (Server-Sent Events)',
      description:
        'Each event is `id: <revision>` and `data: <ClusterEvent JSON>`. Resume with `?since=REV` or the ' +
        '`Last-Event-ID` header. Comment lines are heartbeats. A revision older than the compacted history ' +
        'ends the stream with an `event: error` frame.',
      tags: ['events'],
      querystring: EventQuery,
      response: { 200: ClusterEventSchema, ...errorResponses('invalid_argument') },
    },
    handler: (req, reply) => {
      const kinds = new Set<string>(parseKinds(req.query.kinds));
      const since = resumeRevision(req.query, req.headers['last-event-id']);
      const { signal, release } = ctx.streams.open();
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(`retry: 1000\n: flotilla events from revision ${since ?? store.revision}\n\n`);

      let done = false;
      let timer: TimerHandle | undefined;
      let unsubscribe = (): void => {};
      const finish = (): void => {
        if (done) return;
        done = true;
        timer?.cancel();
        unsubscribe();
        release();
        signal.removeEventListener('abort', finish);
        raw.end();
      };
      const send = (ev: StoreEvent): void => {
        if (done || !kinds.has(ev.kind)) return;
        raw.write(eventFrame(toClusterEvent(ev)));
        if (raw.writableLength > MAX_BUFFERED_BYTES) {
          raw.write(`event: error\ndata: ${JSON.stringify(new ApiError('unavailable', 'client too slow: resume from the last revision received').toJSON())}\n\n`);
          finish();
        }
      };
      const fail = (err: Error): void => {
        if (done) return;
        const apiErr = new ApiError(
          'failed_precondition',
          `cannot resume from revision ${since}: ${err.message}; list the objects again and watch from the current revision`,
          { cause: err },
        );
        raw.write(`event: error\ndata: ${JSON.stringify(apiErr.toJSON())}\n\n`);
        finish();
      };
      const beat = (): void => {
        if (done) return;
        raw.write(': heartbeat\n\n');
        timer = clock.setTimer(ctx.options.heartbeatMs, beat);
      };

      if (since === undefined || since >= store.revision) {
        const off = store.watch(send, { kinds: [...kinds] as Kind[] });
        unsubscribe = off;
      } else {
        const handle = store.changesSince(since, send, fail, { kinds: [...kinds] as Kind[] });
        unsubscribe = () => handle.close();
      }
      timer = clock.setTimer(ctx.options.heartbeatMs, beat);
      signal.addEventListener('abort', finish);
      raw.on('close', finish);
    },
  });
}
