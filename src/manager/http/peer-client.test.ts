import assert from 'node:assert/strict';
import { createServer as createHttpsServer } from 'node:https';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { FakeClock } from '../../testing/fake-clock.ts';
import { TestCa } from '../../testing/test-ca.ts';
import { isPeerRequestError, parseHostPort, PeerClient } from './peer-client.ts';

describe('PeerClient', () => {
  it('reads member addresses', () => {
    assert.deepEqual(parseHostPort('10.0.0.1:4280'), { host: '10.0.0.1', port: 4280 });
    assert.deepEqual(parseHostPort('[fd00::1]:4280'), { host: 'fd00::1', port: 4280 });
    assert.deepEqual(parseHostPort('manager-1.example:443'), { host: 'manager-1.example', port: 443 });
    for (const bad of ['10.0.0.1', 'fd00::1:4280', ':4280', 'h:0', 'h:70000']) {
      assert.throws(() => parseHostPort(bad), (e: unknown) => isPeerRequestError(e) && e.code === 'bad_address', bad);
    }
  });

  it('fails a request whose TLS handshake does not finish within the connect timeout', async () => {
    // A peer that accepts the connection and never answers (a hung host).
    const held: Socket[] = [];
    let accepted: () => void = () => {};
    const connected = new Promise<void>((r) => (accepted = r));
    const server = createServer((s) => {
      held.push(s);
      accepted();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    const clock = new FakeClock();
    const client = new PeerClient({ clock, credentials: () => ({ key: '', cert: '', ca: '' }) }, { connectTimeoutMs: 1_000 });
    try {
      const req = client.request(`127.0.0.1:${port}`, { method: 'GET', path: '/v1/services/x/logs', headers: {} });
      const failed = new Promise<Error>((resolve) => req.on('error', resolve));
      req.end();
      await connected;
      await clock.advance(1_000);
      const err = await failed;
      assert.ok(isPeerRequestError(err) && err.code === 'connect_timeout', String(err));
      assert.equal(err.message, `no connection to 127.0.0.1:${port} within 1000 ms`);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('says when it has no peer certificate to present', () => {
    const client = new PeerClient({ clock: new FakeClock(), credentials: () => undefined });
    assert.throws(() => client.request('127.0.0.1:1', { method: 'GET', path: '/', headers: {} }), (e: unknown) => isPeerRequestError(e) && e.code === 'no_credentials');
  });

  it("refuses a manager-role node's certificate (OU=manager) for the leader, and takes a manager's server certificate", async () => {
    const ca = await TestCa.create();
    const peer = await ca.issue({ cn: 'manager-2', ou: 'peer' });
    const client = new PeerClient({ clock: new FakeClock(), credentials: () => ({ ...peer, ca: ca.certificate }) });
    const ask = async (serverCert: { cn: string; ou: string }): Promise<number | Error> => {
      const tls = await ca.issue(serverCert, { ips: ['127.0.0.1'] });
      const server = createHttpsServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end('ok'));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const { port } = server.address() as AddressInfo;
        const req = client.request(`127.0.0.1:${port}`, { method: 'GET', path: '/v1/info', headers: {} });
        const answer = new Promise<number | Error>((resolve) => {
          req.on('response', (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', resolve);
        });
        req.end();
        return await answer;
      } finally {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    };
    const refused = await ask({ cn: 'node-7', ou: 'manager' });
    assert.ok(refused instanceof Error, `a node certificate was accepted: ${String(refused)}`);
    assert.match(refused.message, /^the certificate of 127\.0\.0\.1 is not a manager's server certificate \(CN=node-7, OU=manager; want CN=flotilla-manager, OU=manager\)$/);
    assert.equal(await ask({ cn: 'flotilla-manager', ou: 'manager' }), 200);
  });
});
