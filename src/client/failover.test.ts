import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ClientError, FlotillaClient, isClientError, isConnectFailure, type FailoverEvent } from './client.ts';
import { contextProblem, contextTarget, managersDue, MANAGERS_REFRESH_MS, withManagers, type ClusterContext } from './contexts.ts';
import type { RawRequest, RawResponse, Transport } from './wire.ts';

/** A transport whose answer per base URL the test sets: a body, or an error to throw. */
class FakeTransport implements Transport {
  readonly calls: Array<{ url: string; req: RawRequest }> = [];
  readonly answers = new Map<string, string | ClientError>();

  async send(target: Parameters<Transport['send']>[0], req: RawRequest): Promise<RawResponse> {
    const url = 'url' in target ? target.url : target.socketPath;
    this.calls.push({ url, req });
    const a = this.answers.get(url);
    if (a === undefined || a instanceof ClientError) throw a ?? new ClientError('unreachable', `no answer at ${url}`);
    return { status: 200, body: once(new TextEncoder().encode(a)) };
  }
}

async function* once(chunk: Uint8Array): AsyncGenerator<Uint8Array> {
  yield chunk;
}

const refused = (url: string, code = 'ECONNREFUSED'): ClientError =>
  new ClientError('unreachable', `cannot reach the manager at ${url}: ${code}`, { cause: Object.assign(new Error(code), { code }) });

void describe('client failover between managers', () => {
  void it('goes on to the next manager when one cannot be connected to, and prefers the one that answered', async () => {
    const t = new FakeTransport();
    t.answers.set('https://a:1', refused('https://a:1'));
    t.answers.set('https://b:1', refused('https://b:1', 'EHOSTUNREACH'));
    t.answers.set('https://c:1', '[]');
    const events: FailoverEvent[] = [];
    const client = new FlotillaClient({ url: 'https://a:1', alternates: ['https://b:1', 'https://c:1'] }, { transport: t, onFailover: (e) => events.push(e) });
    assert.deepEqual(await client.listNodes(), []);
    assert.deepEqual(
      t.calls.map((c) => c.url),
      ['https://a:1', 'https://b:1', 'https://c:1'],
    );
    assert.equal(t.calls[0]?.req.connectTimeoutMs, 5_000, 'with several managers a connect gives up after 5 s');
    assert.equal(events.length, 1);
    assert.equal(events[0]?.from, 'https://a:1');
    assert.equal(events[0]?.to, 'https://c:1');
    assert.equal(events[0]?.errors.length, 2);
    assert.equal(client.activeUrl, 'https://c:1');
    await client.listNodes();
    assert.equal(t.calls.at(-1)?.url, 'https://c:1', 'the manager that answered is tried first from then on');
    assert.equal(events.length, 1);
  });

  void it('never sends a request elsewhere after an answer, nor a write whose connection was lost', async () => {
    const t = new FakeTransport();
    t.answers.set('https://a:1', new ClientError('not_found', 'no node x', { status: 404 }));
    t.answers.set('https://b:1', '{}');
    const client = new FlotillaClient({ url: 'https://a:1', alternates: ['https://b:1'] }, { transport: t });
    await assert.rejects(client.getNode('x'), (err: unknown) => isClientError(err) && err.code === 'not_found');
    t.answers.set('https://a:1', refused('https://a:1', 'ECONNRESET'));
    await assert.rejects(client.createNetwork({ name: 'n' }), (err: unknown) => isClientError(err) && err.code === 'unreachable');
    assert.deepEqual(
      t.calls.map((c) => c.url),
      ['https://a:1', 'https://a:1'],
    );
    // A read reset before its answer (a manager stopping) is read again elsewhere.
    assert.deepEqual(await client.getNode('x'), {});
    assert.deepEqual(
      t.calls.map((c) => `${c.req.method} ${c.url}`),
      ['GET https://a:1', 'POST https://a:1', 'GET https://a:1', 'GET https://b:1'],
    );
  });

  void it('says every manager it tried when none answers', async () => {
    const t = new FakeTransport();
    t.answers.set('https://a:1', refused('https://a:1'));
    t.answers.set('https://b:1', refused('https://b:1', 'ETIMEDOUT'));
    const client = new FlotillaClient({ url: 'https://a:1', alternates: ['https://b:1'] }, { transport: t });
    await assert.rejects(client.info(), (err: unknown) => {
      assert.ok(isClientError(err) && err.code === 'unreachable');
      assert.match(err.message, /^cannot reach any manager: cannot reach the manager at https:\/\/a:1: ECONNREFUSED; cannot reach the manager at https:\/\/b:1: ETIMEDOUT$/);
      return true;
    });
  });

  void it('a single manager is asked as before: no connect timeout, no failover', async () => {
    const t = new FakeTransport();
    t.answers.set('https://a:1', '{}');
    await new FlotillaClient({ url: 'https://a:1' }, { transport: t }).info();
    assert.equal(t.calls[0]?.req.connectTimeoutMs, undefined);
  });

  void it('tells where an event stream began, to resume there if it breaks before its first event', async () => {
    const t = new FakeTransport();
    t.answers.set('https://a:1', 'retry: 1000\n: flotilla events from revision 42\n\n: heartbeat\n\n');
    let opened: number | undefined;
    for await (const _ of new FlotillaClient({ url: 'https://a:1' }, { transport: t }).events({ opened: (r) => (opened = r) })) break;
    assert.equal(opened, 42);
  });

  void it('tells a connect failure from other errors', () => {
    assert.equal(isConnectFailure(refused('x')), true);
    assert.equal(isConnectFailure(refused('x', 'ECONNRESET')), false);
    assert.equal(isConnectFailure(new ClientError('unreachable', 'fetch failed', { cause: Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }) })), true, "fetch's nested cause");
    assert.equal(isConnectFailure(new ClientError('unavailable', 'store unavailable', { status: 503 })), false);
    assert.equal(isConnectFailure(new Error('x')), false);
    // A timeout after the connection opened may have cut a request the manager got.
    const timedOut = (connected: boolean): ClientError => new ClientError('unreachable', 'x', { cause: Object.assign(new Error('x'), { code: 'ETIMEDOUT' }), connected });
    assert.equal(isConnectFailure(timedOut(false)), true);
    assert.equal(isConnectFailure(timedOut(true)), false, 'a write is never sent to a second manager');
  });
});

void describe('client failover over the Node transport', () => {
  let live: Server;
  let dead: Server;
  let liveUrl: string;
  let deadUrl: string;
  before(async () => {
    live = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('[]'));
    dead = createServer();
    await Promise.all([live, dead].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
    liveUrl = `http://127.0.0.1:${(live.address() as AddressInfo).port}`;
    deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    // Closed: its port now refuses connections.
    await new Promise<void>((r) => dead.close(() => r()));
  });
  after(async () => {
    live.closeAllConnections();
    await new Promise<void>((r) => live.close(() => r()));
  });

  void it('a refused connection goes on to the live manager', async () => {
    const events: FailoverEvent[] = [];
    const client = new FlotillaClient({ url: deadUrl, alternates: [liveUrl] }, { onFailover: (e) => events.push(e) });
    assert.deepEqual(await client.listServices(), []);
    assert.equal(events[0]?.to, liveUrl);
    assert.match(events[0]?.errors[0]?.message ?? '', /ECONNREFUSED/);
  });
});

void describe('a context keeps every manager', () => {
  const base: ClusterContext = { host: 'https://a:4280', ca: 'CA', token: 'T' };

  void it('targets the host first and the other hosts as alternates; an old file is one manager', () => {
    assert.deepEqual(contextTarget(base), { url: 'https://a:4280', tls: { ca: 'CA' }, token: 'T' });
    assert.deepEqual(contextTarget({ ...base, hosts: ['https://b:4280', 'https://a:4280', 'https://c:4280/'] }), {
      url: 'https://a:4280',
      tls: { ca: 'CA' },
      token: 'T',
      alternates: ['https://b:4280', 'https://c:4280'],
    });
  });

  void it('refreshes the list at most every 10 minutes, https contexts only', () => {
    assert.equal(managersDue(base, 0), true, 'never checked');
    const checked = withManagers(base, undefined, [], 1_000_000);
    assert.equal(managersDue(checked, 1_000_000 + MANAGERS_REFRESH_MS - 1), false);
    assert.equal(managersDue(checked, 1_000_000 + MANAGERS_REFRESH_MS), true);
    assert.equal(managersDue({ host: 'http://a:1' }, 0), false);
  });

  void it('folds in the managers: the one that answered first, members next, those known before after', () => {
    const before = { ...base, hosts: ['https://a:4280', 'https://old:4280'] };
    const after = withManagers(
      before,
      'https://b:4280',
      [
        { id: '1', addr: 'a:4280', leader: false },
        { id: '2', addr: 'b:4280', leader: true },
        { id: '3', addr: 'c:4280', leader: false },
      ],
      0,
    );
    assert.equal(after.host, 'https://b:4280');
    assert.deepEqual(after.hosts, ['https://b:4280', 'https://a:4280', 'https://c:4280', 'https://old:4280']);
    assert.equal(after.managersCheckedAt, '1970-01-01T00:00:00.000Z');
    assert.equal(after.token, 'T');
    assert.deepEqual(withManagers(base, undefined, undefined, undefined), base, 'nothing learnt: unchanged');
  });

  void it('checks hosts in a context file', () => {
    const ok = { host: 'https://a:4280', ca: '-----BEGIN CERTIFICATE-----', token: 'T' };
    assert.equal(contextProblem({ ...ok, hosts: ['https://a:4280', 'https://b:4280'] }), undefined);
    assert.match(contextProblem({ ...ok, hosts: 'https://b:4280' }) ?? '', /"hosts" must be a list/);
    assert.match(contextProblem({ ...ok, hosts: ['b:4280'] }) ?? '', /"hosts" entry "b:4280" is not an http\(s\):\/\/ address/);
  });
});
