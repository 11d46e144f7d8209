import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import type { Driver, ExecInResult } from '../drivers/driver.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { commandProbe, httpProbe, tcpProbe, testArgv } from './probes.ts';

const local = (): Promise<string> => Promise.resolve('127.0.0.1');
const signal = (): AbortSignal => new AbortController().signal;

/**
 * An address where nothing listens, for as long as the test holds it: 127.0.0.2 at a port this
 * process keeps listening on 127.0.0.1. Holding it, no other process can listen there on any
 * address (a wildcard bind conflicts), unlike a port bound and released, which anyone may take
 * before the probe connects.
 */
async function refusing(t: TestContext): Promise<{ port: number; address: () => Promise<string> }> {
  const s = createTcpServer((sock) => sock.destroy());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => s.close());
  return { port: (s.address() as AddressInfo).port, address: () => Promise.resolve('127.0.0.2') };
}

void describe('httpProbe', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      res.statusCode = req.url === '/ok' ? 200 : req.url === '/moved' ? 302 : 503;
      res.end('body');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  void it('passes on 2xx and 3xx when no status is asked for, fails otherwise', async () => {
    assert.equal((await httpProbe({ port, path: '/ok' }, local)(signal())).ok, true);
    assert.equal((await httpProbe({ port, path: '/moved' }, local)(signal())).ok, true);
    const bad = await httpProbe({ port, path: '/down' }, local)(signal());
    assert.deepEqual(bad, { ok: false, output: `GET http://127.0.0.1:${port}/down: status 503, expected 2xx or 3xx` });
  });

  void it('passes only on the asked-for status', async () => {
    assert.equal((await httpProbe({ port, path: '/down', status: 503 }, local)(signal())).ok, true);
    assert.equal((await httpProbe({ port, path: 'ok', status: 204 }, local)(signal())).ok, false);
  });

  void it('fails with the connection error, or the abort reason when it is cut off', async (t) => {
    const closed = await refusing(t);
    const refused = await httpProbe({ port: closed.port, path: '/' }, closed.address)(signal());
    assert.equal(refused.ok, false);
    assert.match(refused.output, /ECONNREFUSED/);
    const ac = new AbortController();
    const pending = httpProbe({ port, path: '/hang' }, local)(ac.signal);
    ac.abort(new Error('health check timed out after 5ms'));
    assert.deepEqual(await pending, { ok: false, output: `GET http://127.0.0.1:${port}/hang: health check timed out after 5ms` });
  });
});

void describe('tcpProbe', () => {
  void it('passes when a connection opens and fails when it is refused', async (t) => {
    const s = createTcpServer((sock) => sock.destroy());
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const { port } = s.address() as AddressInfo;
    try {
      assert.deepEqual(await tcpProbe({ port }, local)(signal()), { ok: true, output: `connected to 127.0.0.1:${port}` });
    } finally {
      s.close();
    }
    const closed = await refusing(t);
    const refused = await tcpProbe({ port: closed.port }, closed.address)(signal());
    assert.equal(refused.ok, false);
    assert.match(refused.output, /ECONNREFUSED/);
  });
});

void describe('testArgv', () => {
  void it('maps Docker test forms to argv', () => {
    assert.deepEqual(testArgv(['CMD', 'wget', '-q', 'http://x/']), ['wget', '-q', 'http://x/']);
    assert.deepEqual(testArgv(['CMD-SHELL', 'test -f /tmp/ok']), ['/bin/sh', '-c', 'test -f /tmp/ok']);
    assert.equal(testArgv(['NONE']), undefined);
    assert.equal(testArgv(['CMD']), undefined);
  });
});

void describe('commandProbe', () => {
  const withResult = (r: ExecInResult): Driver => {
    const d = new FakeDriver({ nodeId: 'n1', clock: new FakeClock() }) as Driver;
    return Object.assign(Object.create(d) as Driver, { execIn: () => Promise.resolve(r) });
  };

  void it('passes on exit 0 and fails with the output, the exit code or the timeout', async () => {
    assert.deepEqual(await commandProbe(withResult({ exitCode: 0, output: 'ok\n' }), 't', ['true'], 100)(signal()), { ok: true, output: 'ok' });
    assert.deepEqual(await commandProbe(withResult({ exitCode: 1, output: ' no file\n' }), 't', ['x'], 100)(signal()), { ok: false, output: 'no file' });
    assert.deepEqual(await commandProbe(withResult({ exitCode: 2, output: '' }), 't', ['x'], 100)(signal()), { ok: false, output: 'exit code 2' });
    assert.deepEqual(await commandProbe(withResult({ exitCode: 137, output: '', timedOut: true }), 't', ['x'], 100)(signal()), {
      ok: false,
      output: 'health check timed out after 100ms',
    });
  });

  void it('fails when the driver cannot run commands', async () => {
    const d = new FakeDriver({ nodeId: 'n1', clock: new FakeClock() });
    assert.deepEqual(await commandProbe(d, 't', ['true'], 100)(signal()), { ok: false, output: 'the fake driver cannot run health check commands' });
  });
});
