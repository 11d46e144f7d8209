import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { afterEach, describe, it } from 'node:test';
import type { ClusterEvent } from '../../api/event.ts';
import type { LogLine, LogQuery, TaskLogEntry } from '../../api/log-line.ts';
import type { Task } from '../../api/task.ts';
import { FlotillaClient } from '../../client/client.ts';
import { lines, sse } from '../../client/streams.ts';
import { makeService, makeTask } from '../../testing/fixtures.ts';
import { testSealingKey } from '../../testing/sealing-key.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';

/** Fails the test instead of hanging when `p` does not settle in time. */
function within<T>(p: Promise<T>, ms = 60_000): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

const spec = { name: 'web', taskTemplate: { container: { image: 'flotilla/busybox:test' } } };

describe('GET /v1/events', () => {
  let h: ApiHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('streams committed changes live, with the revision as the event id', async () => {
    h = await startApi({ listen: true });
    const client = new FlotillaClient({ socketPath: h.socketPath });
    const ac = new AbortController();
    const events = client.events({ signal: ac.signal, kinds: ['service'] });
    const first = events.next();
    // The subscription is open once the response headers arrived; give the request a moment by
    // waiting for the server to see the connection through an info round trip.
    await client.info();
    const created = await client.createService(spec);
    const ev = (await within(first)).value as ClusterEvent;
    assert.equal(ev.kind, 'service');
    assert.equal(ev.action, 'create');
    assert.equal(ev.revision, created.version);
    assert.deepEqual(ev.object, created);
    ac.abort();
  });

  it('resumes after a revision (?since=) with history first, then live changes', async () => {
    h = await startApi({ listen: true });
    const client = new FlotillaClient({ socketPath: h.socketPath });
    const a = await client.createService(spec);
    const b = await client.scaleService('web', 3);
    const ac = new AbortController();
    const it = client.events({ since: a.version, signal: ac.signal });
    const ev1 = (await within(it.next())).value as ClusterEvent;
    assert.equal(ev1.revision, b.version);
    assert.equal(ev1.action, 'update');
    await client.removeService('web');
    const ev2 = (await within(it.next())).value as ClusterEvent;
    assert.equal(ev2.action, 'delete');
    ac.abort();
  });

  it('honours Last-Event-ID, sends heartbeats, and ends the stream when the API stops', async () => {
    h = await startApi({ listen: true, api: { heartbeatMs: 1000 } });
    const client = new FlotillaClient({ socketPath: h.socketPath });
    const a = await client.createService(spec);
    await client.scaleService('web', 2);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = request({ socketPath: h!.socketPath, path: '/v1/events', headers: { 'last-event-id': String(a.version) } }, resolve);
      r.on('error', reject);
      r.end();
    });
    assert.equal(res.headers['content-type'], 'text/event-stream; charset=utf-8');
    const text = lines(res);
    const seen: string[] = [];
    const next = async (pred: (l: string) => boolean): Promise<string> => {
      for (;;) {
        const r = await within(text.next());
        if (r.done) throw new Error(`stream ended; saw ${seen.join(' | ')}`);
        seen.push(r.value);
        if (pred(r.value)) return r.value;
      }
    };
    const data = JSON.parse((await next((l) => l.startsWith('data: '))).slice(6)) as ClusterEvent;
    assert.equal(data.revision, a.version + 1);
    await h.clock.advance(1000);
    await next((l) => l === ': heartbeat');
    await h.api.stop();
    // The stream ends (within the timeout) once the API stops.
    for (;;) {
      const r = await within(text.next());
      if (r.done) break;
    }
  });

  it('streams secrets (metadata only, never sealed), configs and stacks (with their compose source)', async () => {
    h = await startApi({ listen: true, secrets: testSealingKey() });
    const client = new FlotillaClient({ socketPath: h.socketPath });
    const secret = await client.createSecret({ name: 'pw' }, new TextEncoder().encode('do-not-leak'));
    const config = await client.createConfig({ name: 'conf' }, new TextEncoder().encode('x=1'));
    const compose = 'services:\n  web:\n    image: flotilla/busybox:test\n';
    const deployed = await client.deployStack({ name: 'shop', composeFiles: ['compose.yaml'], files: [{ path: 'compose.yaml', content: compose }], missingFiles: ['.env'] });
    const ac = new AbortController();
    const seen: ClusterEvent[] = [];
    for await (const ev of client.events({ since: 0, kinds: ['secret', 'config', 'stack'], signal: ac.signal })) {
      seen.push(ev);
      if (ev.kind === 'stack') break;
    }
    ac.abort();
    assert.deepEqual(seen.map((e) => [e.kind, e.action, e.object.id]), [
      ['secret', 'create', secret.id],
      ['config', 'create', config.id],
      ['stack', 'create', deployed.stack.id],
    ]);
    assert.equal((seen[0]?.object as { sealed?: string }).sealed, undefined);
    assert.deepEqual(seen[0]?.object, secret);
    const stack = seen[2]?.kind === 'stack' ? seen[2].object : undefined;
    assert.equal(stack?.spec.files[0]?.content, compose);
  });

  it('rejects unknown kinds', async () => {
    h = await startApi();
    const r = await h.call('GET', '/v1/events?kinds=service,widget');
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /unknown event kind "widget"/);
  });

  it('parses SSE frames the way EventSource does', async () => {
    async function* chunks(): AsyncGenerator<string> {
      yield 'retry: 10\n: hi\n\nid: 7\ndata: {"a":';
      yield '1}\n\nevent: error\ndata: x\ndata: y\n\n';
    }
    const got = [];
    for await (const m of sse(chunks())) got.push(m);
    assert.deepEqual(got, [
      { id: '7', event: 'message', data: '{"a":1}' },
      { id: '7', event: 'error', data: 'x\ny' },
    ]);
  });
});

describe('GET /v1/services/:id/logs', () => {
  let h: ApiHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** A log source that replays fixed lines per task, and fails for tasks named in `broken`. */
  function fakeLogs(byTask: Record<string, string[]>, broken = new Set<string>()): { taskLogs(t: Task, q: LogQuery, s: AbortSignal): AsyncIterable<LogLine>; queries: LogQuery[] } {
    const queries: LogQuery[] = [];
    return {
      queries,
      async *taskLogs(task, query, signal) {
        queries.push(query);
        if (broken.has(task.id)) throw new Error('node unreachable');
        const all = byTask[task.id] ?? [];
        for (const line of query.tail === undefined ? all : all.slice(-query.tail)) yield { stream: 'stdout', line, time: '2026-01-01T00:00:00.000Z' };
        if (query.follow) {
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
        }
      },
    };
  }

  async function seed(harness: ApiHarness, tasks: Task[]): Promise<void> {
    const svc = makeService();
    await harness.store.update((tx) => {
      const { version: _v, createdAt: _c, updatedAt: _u, ...s } = svc;
      tx.services.create(s);
      for (const t of tasks) {
        const { version: _tv, createdAt: _tc, updatedAt: _tu, ...rest } = t;
        tx.tasks.create(rest);
      }
    });
  }

  it('streams every task’s lines as NDJSON, with per-task errors in place of lines', async () => {
    const running = makeTask({ slot: 1, nodeId: 'n1', status: { state: 'running' } });
    const broken = makeTask({ slot: 2, nodeId: 'n1', status: { state: 'running' } });
    const pending = makeTask({ slot: 3, status: { state: 'pending' } });
    const logs = fakeLogs({ [running.id]: ['a', 'b', 'c'], [pending.id]: ['never'] }, new Set([broken.id]));
    h = await startApi({ listen: true, logs });
    await seed(h, [running, broken, pending]);
    const client = new FlotillaClient({ socketPath: h.socketPath });
    const got: TaskLogEntry[] = [];
    for await (const e of client.serviceLogs('web', { tail: 2 })) got.push(e);
    const lines_ = got.filter((e) => 'line' in e);
    assert.deepEqual(lines_.map((e) => ('line' in e ? e.line : '')), ['b', 'c']);
    assert.deepEqual(lines_[0], { taskId: running.id, stream: 'stdout', line: 'b', slot: 1, nodeId: 'n1', time: '2026-01-01T00:00:00.000Z' });
    const errors = got.filter((e) => 'error' in e);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.taskId, broken.id);
    assert.match('error' in errors[0]! ? errors[0].error.message : '', /node unreachable/);
    assert.deepEqual(logs.queries[0], { follow: false, tail: 2 });
  });

  it('follows: picks up tasks that start later and ends when the client goes', async () => {
    const t1 = makeTask({ slot: 1, nodeId: 'n1', status: { state: 'running' } });
    const t2 = makeTask({ slot: 2, nodeId: 'n1', status: { state: 'assigned' } });
    const logs = fakeLogs({ [t1.id]: ['one'], [t2.id]: ['two'] });
    h = await startApi({ listen: true, logs });
    await seed(h, [t1, t2]);
    const client = new FlotillaClient({ socketPath: h.socketPath });
    const ac = new AbortController();
    const it = client.serviceLogs('web', { follow: true, signal: ac.signal });
    const first = (await within(it.next())).value as TaskLogEntry;
    assert.equal('line' in first && first.line, 'one');
    const current = h.store.tasks.get(t2.id)!;
    await h.store.update((tx) => {
      tx.tasks.update({ ...current, status: { ...current.status, state: 'running' } });
    });
    const second = (await within(it.next())).value as TaskLogEntry;
    assert.equal('line' in second && second.line, 'two');
    ac.abort();
    await assert.rejects(within(it.next()));
  });

  it('answers 503 when no log source is wired, 404 for an unknown service', async () => {
    h = await startApi();
    assert.equal((await h.call('GET', '/v1/services/nope/logs')).status, 404);
    await seed(h, []);
    const r = await h.call('GET', '/v1/services/web/logs');
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'unavailable');
  });
});
