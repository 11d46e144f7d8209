import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import type { BuildEvent, BuildOutcome } from '../../api/build.ts';
import type { LogLine, LogQuery, TaskLogEntry } from '../../api/log-line.ts';
import type { Task } from '../../api/task.ts';
import { FlotillaClient } from '../../client/client.ts';
import { ndjson } from '../../client/streams.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';
import { makeService, makeTask } from '../../testing/fixtures.ts';
import type { ImageBuilds, LeaderForwarding, LeaderView } from './context.ts';
import { FORWARDED_BY_HEADER, LineCarry } from './leader-forward.ts';

/** Only catches hangs. */
const HANG_MS = 60_000;

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), HANG_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** A leadership view a test sets by hand, forwarding over plain HTTP on unix sockets. */
class TestForwarding implements LeaderForwarding {
  readonly selfId = 'follower-1';
  view: LeaderView;
  /** Headers of every request forwarded, in order. */
  readonly sent: Record<string, unknown>[] = [];
  /** The requests opened, in order. */
  readonly requests: ClientRequest[] = [];
  readonly #listeners = new Set<() => void>();
  constructor(view: LeaderView) {
    this.view = view;
  }
  leader(): LeaderView {
    return this.view;
  }
  set(view: LeaderView): void {
    this.view = view;
    for (const l of this.#listeners) l();
  }
  onLeaderChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  request(addr: string, init: { method: string; path: string; headers: Record<string, unknown> }) {
    this.sent.push(init.headers);
    const req = request({ socketPath: addr.slice('unix://'.length), method: init.method, path: init.path, headers: init.headers as Record<string, string>, agent: false });
    this.requests.push(req);
    return req;
  }
}

/** A log source whose lines a test pushes; records when a reader stops. */
class PushedLogs {
  readonly #lines: LogLine[] = [];
  #wake: (() => void) | undefined;
  readers = 0;
  readonly stopped: Promise<void>;
  #stop!: () => void;
  constructor() {
    this.stopped = new Promise((r) => (this.#stop = r));
  }
  push(line: string): void {
    this.#lines.push({ stream: 'stdout', line });
    this.#wake?.();
  }
  async *taskLogs(_task: Task, query: LogQuery, signal: AbortSignal): AsyncIterable<LogLine> {
    this.readers++;
    let next = 0;
    try {
      for (;;) {
        while (next < this.#lines.length) yield this.#lines[next++]!;
        if (!query.follow || signal.aborted) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        if (signal.aborted) return;
      }
    } finally {
      this.readers--;
      if (this.readers === 0) this.#stop();
    }
  }
}

/** One HTTP request on a unix socket; resolves with the answer's head (the body unread). */
function send(socketPath: string, method: string, path: string, headers: Record<string, string | number> = {}, body?: Readable): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers, agent: false }, resolve);
    req.on('error', reject);
    if (body) body.pipe(req);
    else req.end();
  });
}

async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('forwarding to the leader', () => {
  const harnesses: ApiHarness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });

  /** A leader API (with `logs`/`images`) and a follower API that forwards to it. */
  async function pair(options: { logs?: PushedLogs; images?: ImageBuilds } = {}): Promise<{ leader: ApiHarness; follower: ApiHarness; forwarding: TestForwarding; leaderForwarding: TestForwarding }> {
    const leaderForwarding = new TestForwarding({ kind: 'self' });
    const leader = await startApi({ listen: true, forwarding: leaderForwarding, ...(options.logs ? { logs: options.logs } : {}), ...(options.images ? { images: options.images } : {}) });
    harnesses.push(leader);
    const forwarding = new TestForwarding({ kind: 'other', id: 'leader-1', addr: `unix://${leader.socketPath}` });
    const follower = await startApi({ listen: true, forwarding });
    harnesses.push(follower);
    // The service and its task live in the leader's store (the follower's is another store here: it never reads them).
    await leader.store.update((tx) => {
      tx.services.create(makeService({ id: 's1', spec: { name: 'web' } }));
      tx.tasks.create(makeTask({ id: 't1', serviceId: 's1', slot: 1, nodeId: 'n1', status: { state: 'running', timestamp: new Date(0).toISOString() } }));
    });
    return { leader, follower, forwarding, leaderForwarding };
  }

  /** A pair whose leader has a log with one line, followed through the follower until that line arrived. */
  async function followedLog(signal?: AbortSignal): Promise<{ logs: PushedLogs; forwarding: TestForwarding; stream: ReturnType<FlotillaClient['serviceLogs']>; first: IteratorResult<unknown> }> {
    const logs = new PushedLogs();
    logs.push('first');
    const { follower, forwarding } = await pair({ logs });
    const client = new FlotillaClient({ socketPath: follower.socketPath });
    const stream = client.serviceLogs('web', signal ? { follow: true, signal } : { follow: true });
    const first = await within(stream.next(), 'the first line');
    return { logs, forwarding, stream, first };
  }

  it('streams a followed log through the follower, and ends it at the leader when the client goes away', async () => {
    const ac = new AbortController();
    const { logs, forwarding, stream, first } = await followedLog(ac.signal);
    assert.deepEqual(first.value, { taskId: 't1', slot: 1, nodeId: 'n1', stream: 'stdout', line: 'first' });
    // A line written after the stream opened arrives while it stays open: it streams.
    logs.push('second');
    const second = await within(stream.next(), 'the second line');
    assert.equal((second.value as { line: string }).line, 'second');
    assert.equal(forwarding.sent[0]?.[FORWARDED_BY_HEADER], 'follower-1', 'the forwarded request names the follower');
    ac.abort();
    await within(logs.stopped, 'the leader to stop reading the log once the client left');
  });

  it('ends a forwarded stream with one clear error line when the leader changes', async () => {
    const { logs, forwarding, stream } = await followedLog();
    forwarding.set({ kind: 'other', id: 'leader-2', addr: 'unix:///nowhere.sock' });
    const last = await within(stream.next(), 'the error line');
    const entry = last.value as TaskLogEntry;
    assert.ok('error' in entry, JSON.stringify(entry));
    assert.equal(entry.taskId, '');
    assert.equal(entry.error.code, 'unavailable');
    assert.match(entry.error.message, /the leader \(manager leader-1 at unix:\/\/.*\) no longer leads \(manager leader-2 at unix:\/\/\/nowhere\.sock leads now\): ask again/);
    assert.equal((await within(stream.next(), 'the end')).done, true);
    await within(logs.stopped, 'the old leader to stop reading');
  });

  it('ends a forwarded stream with one clear error line when the connection to the leader breaks', async () => {
    const { forwarding, stream } = await followedLog();
    forwarding.requests[0]?.socket?.destroy();
    const last = (await within(stream.next(), 'the error line')).value as TaskLogEntry;
    assert.ok('error' in last, JSON.stringify(last));
    assert.match(last.error.message, /^the connection to the leader \(manager leader-1 at unix:\/\/.*\) was lost/);
    assert.equal((await within(stream.next(), 'the end')).done, true);
  });

  it('answers 503 naming the leader when it cannot be reached, or when none is known', async () => {
    const { follower, forwarding } = await pair();
    forwarding.set({ kind: 'other', id: 'leader-9', addr: `unix://${join(follower.dir, 'gone.sock')}` });
    const unreachable = await send(follower.socketPath, 'GET', '/v1/services/web/logs');
    assert.equal(unreachable.statusCode, 503);
    const body = JSON.parse(await text(unreachable)) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'unavailable');
    assert.match(body.error.message, /^the leader \(manager leader-9 at unix:\/\/.*gone\.sock\) cannot be reached: /);

    forwarding.set({ kind: 'unknown' });
    const none = await send(follower.socketPath, 'GET', '/v1/services/web/logs');
    assert.equal(none.statusCode, 503);
    assert.match(await text(none), /knows of none now/);
  });

  it('refuses a forwarded request on a manager that does not lead, and serves it on the leader', async () => {
    const logs = new PushedLogs();
    logs.push('only');
    const { leader, follower } = await pair({ logs });
    const refused = await send(follower.socketPath, 'GET', '/v1/services/web/logs', { [FORWARDED_BY_HEADER]: 'manager-x' });
    assert.equal(refused.statusCode, 503);
    assert.match(await text(refused), /forwarded by manager manager-x reached manager follower-1, which is not the leader \(the leader is manager leader-1 at unix:.*\): a forwarded request is not forwarded again/);
    const served = await send(leader.socketPath, 'GET', '/v1/services/web/logs', { [FORWARDED_BY_HEADER]: 'follower-1' });
    assert.equal(served.statusCode, 200);
    assert.match(await text(served), /"line":"only"/);
  });

  it('leaves other routes to the follower, and never passes credentials on', async () => {
    const { follower, forwarding } = await pair();
    const services = await send(follower.socketPath, 'GET', '/v1/services');
    assert.equal(services.statusCode, 200);
    assert.deepEqual(JSON.parse(await text(services)), [], 'answered from the follower’s own store');
    assert.equal(forwarding.sent.length, 0);
    const res = await send(follower.socketPath, 'GET', '/v1/services/web/logs', { authorization: 'Bearer secret', cookie: 'a=b', 'x-other': '1' });
    await text(res);
    assert.equal(forwarding.sent[0]?.['authorization'], undefined);
    assert.equal(forwarding.sent[0]?.['cookie'], undefined);
    assert.equal(forwarding.sent[0]?.['x-other'], '1');
  });

  it('streams a build context to the leader and its progress back', async () => {
    const received = createHash('sha256');
    let bytes = 0;
    const images: ImageBuilds = {
      find: () => undefined,
      async build(_name, _options, context, emit): Promise<BuildOutcome> {
        for await (const chunk of context) {
          received.update(chunk);
          bytes += chunk.length;
        }
        emit({ progress: `got ${bytes} bytes` });
        return { error: { code: 'build_failed', message: 'scripted' } };
      },
    };
    const { follower } = await pair({ images });
    // 8 MiB made as it is read: the body is never whole anywhere on the way.
    const piece = Buffer.alloc(64 * 1024, 7);
    const pieces = 128;
    const sent = createHash('sha256');
    async function* body(): AsyncGenerator<Buffer> {
      for (let i = 0; i < pieces; i++) {
        sent.update(piece);
        yield piece;
      }
    }
    const res = await send(follower.socketPath, 'POST', '/v1/builds?name=web&options=%7B%7D', { 'content-type': 'application/x-tar' }, Readable.from(body()));
    assert.equal(res.statusCode, 200);
    const events: BuildEvent[] = [];
    for await (const e of ndjson<BuildEvent>(res)) events.push(e);
    assert.deepEqual(events, [{ progress: `got ${pieces * piece.length} bytes` }, { error: { code: 'build_failed', message: 'scripted' } }]);
    assert.equal(received.digest('hex'), sent.digest('hex'));
  });

  it('asks the leader whether it holds a built image’s archive', async () => {
    const image = { id: 'i1', version: 1, labels: {}, ref: 'flotilla.local/web:abc', contentHash: 'abc', blobDigest: 'd', sizeBytes: 1, builtOn: 'n1', createdAt: '', updatedAt: '' };
    let held = false;
    const images: ImageBuilds = { find: (ref) => (ref === image.ref ? image : undefined), hasArchive: async () => held, build: async () => ({ error: { code: 'x', message: 'x' } }) };
    const { follower } = await pair({ images });
    const client = new FlotillaClient({ socketPath: follower.socketPath });
    assert.equal(await client.getImage(image.ref), undefined, 'metadata without the archive on the leader: build it again');
    held = true;
    assert.deepEqual(await client.getImage(image.ref), image);
  });
});

describe('LineCarry', () => {
  it('passes whole lines on and holds back the unfinished one', () => {
    const c = new LineCarry();
    assert.equal(c.take(Buffer.from('{"a":1}\n{"b"')).toString(), '{"a":1}\n');
    assert.equal(c.take(Buffer.from(':2')).toString(), '');
    assert.equal(c.take(Buffer.from('}\n{"c":3}\n')).toString(), '{"b":2}\n{"c":3}\n');
    assert.equal(c.take(Buffer.from('tail')).toString(), '');
    assert.equal(c.rest().toString(), 'tail');
  });
});
