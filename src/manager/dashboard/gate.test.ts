import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeClock } from '../../testing/fake-clock.ts';
import { DASHBOARD_HEADER, DashboardGate, SESSION_COOKIE, type DashboardAssets } from './gate.ts';
import { SESSION_IDLE_MS } from './sessions.ts';

const ASSETS: DashboardAssets = new Map([
  ['index.html', { body: new TextEncoder().encode('<!doctype html><title>t</title>'), type: 'text/html; charset=utf-8' }],
  ['app.js', { body: new TextEncoder().encode('console.log(1)'), type: 'text/javascript; charset=utf-8' }],
]);

/** A gate in front of a fake API that echoes what reached it. */
async function serve(options: { adminToken?: string } = {}): Promise<{ base: string; gate: DashboardGate; clock: FakeClock; server: Server }> {
  const clock = new FakeClock();
  const api = (req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, cookie: req.headers.cookie ?? null, authorization: req.headers.authorization ?? null }));
  };
  const token = options.adminToken;
  const gate = new DashboardGate({ clock, api, ...(token !== undefined ? { isAdminToken: (t: string) => t === token } : {}) }, ASSETS);
  const server = createServer(gate.handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, gate, clock, server };
}

const H = { [DASHBOARD_HEADER]: '1', 'content-type': 'application/json' };

async function signInWith(base: string, body: object): Promise<Response> {
  return fetch(`${base}/ui/session`, { method: 'POST', headers: H, body: JSON.stringify(body) });
}

function sessionOf(res: Response): string {
  const set = res.headers.get('set-cookie') ?? '';
  const m = new RegExp(`${SESSION_COOKIE}=([^;]+)`).exec(set);
  assert.ok(m?.[1], `a session cookie in ${set}`);
  return `${SESSION_COOKIE}=${m[1]}`;
}

describe('DashboardGate with login links (dev)', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    s = await serve();
  });
  after(() => s.server.close());

  it('serves the page for app routes and files, with a strict content security policy', async () => {
    for (const path of ['/ui/', '/ui/services/web', '/ui/login']) {
      const res = await fetch(`${s.base}${path}`);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type') ?? '', /text\/html/);
      assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    }
    assert.equal((await fetch(`${s.base}/ui/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await fetch(`${s.base}/ui/nope.js`)).status, 404);
    const root = await fetch(`${s.base}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/ui/');
  });

  it('refuses the API without a session', async () => {
    const res = await fetch(`${s.base}/ui/api/v1/services`, { headers: H });
    assert.equal(res.status, 401);
    assert.deepEqual(await (await fetch(`${s.base}/ui/session`)).json(), { signedIn: false, signIn: 'link' });
  });

  it('spends a nonce once for an HttpOnly SameSite=Strict cookie, then forwards without the cookie', async () => {
    const nonce = s.gate.issueLoginNonce();
    const res = await signInWith(s.base, { nonce });
    assert.equal(res.status, 204);
    assert.match(res.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
    const cookie = sessionOf(res);
    assert.equal((await signInWith(s.base, { nonce })).status, 401, 'a used link does not sign in again');
    assert.equal((await signInWith(s.base, { token: 'x' })).status, 400, 'no token sign-in in dev');

    const api = await fetch(`${s.base}/ui/api/v1/services?x=1`, { headers: { ...H, cookie } });
    assert.equal(api.status, 200);
    assert.deepEqual(await api.json(), { url: '/v1/services?x=1', cookie: null, authorization: null });
    assert.deepEqual(await (await fetch(`${s.base}/ui/session`, { headers: { cookie } })).json(), { signedIn: true, signIn: 'link' });
  });

  it('refuses cross-site requests: no dashboard header, or another Origin', async () => {
    const cookie = sessionOf(await signInWith(s.base, { nonce: s.gate.issueLoginNonce() }));
    assert.equal((await fetch(`${s.base}/ui/api/v1/services`, { headers: { cookie } })).status, 403);
    assert.equal((await fetch(`${s.base}/ui/api/v1/services`, { headers: { ...H, cookie, origin: 'http://evil.example' } })).status, 403);
    assert.equal((await fetch(`${s.base}/ui/session`, { method: 'POST', body: JSON.stringify({ nonce: s.gate.issueLoginNonce() }) })).status, 403);
    assert.equal((await fetch(`${s.base}/ui/api/v1/services`, { headers: { ...H, cookie, origin: s.base } })).status, 200);
  });

  it('ends a session on sign-out and after being idle', async () => {
    const cookie = sessionOf(await signInWith(s.base, { nonce: s.gate.issueLoginNonce() }));
    assert.equal((await fetch(`${s.base}/ui/session`, { method: 'DELETE', headers: { ...H, cookie } })).status, 204);
    assert.equal((await fetch(`${s.base}/ui/api/v1/x`, { headers: { ...H, cookie } })).status, 401);

    const idle = sessionOf(await signInWith(s.base, { nonce: s.gate.issueLoginNonce() }));
    await s.clock.advance(SESSION_IDLE_MS + 1);
    assert.equal((await fetch(`${s.base}/ui/api/v1/x`, { headers: { ...H, cookie: idle } })).status, 401);
  });
});

describe('DashboardGate with the admin token (server)', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    s = await serve({ adminToken: 'secret-admin-token' });
  });
  after(() => s.server.close());

  it('signs in with the admin token and forwards as its bearer, never the cookie', async () => {
    assert.deepEqual(await (await fetch(`${s.base}/ui/session`)).json(), { signedIn: false, signIn: 'token' });
    assert.equal((await signInWith(s.base, { token: 'wrong' })).status, 401);
    const cookie = sessionOf(await signInWith(s.base, { token: 'secret-admin-token' }));
    const res = await fetch(`${s.base}/ui/api/v1/nodes`, { headers: { ...H, cookie, authorization: 'Bearer forged' } });
    assert.deepEqual(await res.json(), { url: '/v1/nodes', cookie: null, authorization: 'Bearer secret-admin-token' });
  });
});
