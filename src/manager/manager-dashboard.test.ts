import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { DASHBOARD_HEADER, SESSION_COOKIE } from './dashboard/gate.ts';
import { Manager } from './manager.ts';

/** The dashboard on a server's HTTPS listener: its files, token sign-in, the API as the session. */
describe('manager with tls and the dashboard', () => {
  let dir: string;
  let manager: Manager;
  let port: number;
  let ca: string;
  let token: string;

  function call(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, ca, servername: 'localhost', checkServerIdentity: () => undefined, headers }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-dash-'));
    const page = { body: new TextEncoder().encode('<!doctype html>'), type: 'text/html; charset=utf-8' };
    manager = new Manager(
      { clock: new FakeClock(Date.now()), logger: silentLogger },
      { dataDir: dir, tls: { listen: { host: '127.0.0.1', port: 0 }, advertiseAddr: '127.0.0.1' }, dashboard: { assets: new Map([['index.html', page]]) } },
    );
    await manager.start();
    port = Number(new URL(manager.addresses.find((a) => a.startsWith('https://')) ?? '').port);
    ca = manager.caCertificate;
    token = (await readFile(join(dir, 'admin', 'token'), 'utf8')).trim();
  });
  after(async () => {
    await manager.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the page under /ui/ with no credential, and the API only to a signed-in session', async () => {
    assert.equal((await call('GET', '/ui/')).status, 200);
    const h = { [DASHBOARD_HEADER]: '1', 'content-type': 'application/json' };
    assert.equal((await call('GET', '/ui/api/v1/nodes', h)).status, 401);
    assert.equal((await call('POST', '/ui/session', h, JSON.stringify({ token: 'nope' }))).status, 401);
    const signed = await call('POST', '/ui/session', h, JSON.stringify({ token }));
    assert.equal(signed.status, 204);
    const set = String(signed.headers['set-cookie']);
    assert.match(set, /HttpOnly; SameSite=Strict; Max-Age=\d+; Secure/);
    const cookie = /(flotilla_session=[^;]+)/.exec(set)?.[1] ?? '';
    assert.ok(cookie.startsWith(`${SESSION_COOKIE}=`));
    const nodes = await call('GET', '/ui/api/v1/nodes', { ...h, cookie });
    assert.equal(nodes.status, 200, nodes.body);
    assert.ok(Array.isArray(JSON.parse(nodes.body)));
    // The cookie alone is not the admin credential on the API's own routes.
    assert.equal((await call('GET', '/v1/nodes', { cookie })).status, 401);
  });
});
