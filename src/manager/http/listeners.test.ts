import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { TLSSocket } from 'node:tls';
import { silentLogger } from '../../lib/logger.ts';
import { TestCa } from '../../testing/test-ca.ts';
import { HttpListeners } from './listeners.ts';

interface Reply {
  readonly status: number;
  readonly body: string;
  readonly peerCert?: string;
}

function collect(res: IncomingMessage, resolve: (r: Reply) => void): void {
  let body = '';
  res.on('data', (c: Buffer) => (body += c.toString()));
  res.on('end', () => {
    const sock = res.socket;
    const peerCert = sock instanceof TLSSocket ? sock.getPeerX509Certificate()?.serialNumber : undefined;
    resolve({ status: res.statusCode ?? 0, body, ...(peerCert ? { peerCert } : {}) });
  });
}

function get(socketPath: string, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ socketPath, path, agent: false }, (res) => collect(res, resolve));
    req.on('error', reject);
    req.end();
  });
}

/** The raw answer to an upgrade request. */
function upgrade(socketPath: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath, () => s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n`));
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

describe('HttpListeners', () => {
  let dir: string;
  const started: HttpListeners[] = [];
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-http-'));
  });
  afterEach(async () => {
    for (const l of started.splice(0)) await l.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(l: HttpListeners): Promise<HttpListeners> {
    started.push(l);
    await l.start();
    return l;
  }

  it('routes requests to the longest mounted prefix and upgrades by exact path; the rest is 404', async () => {
    const path = join(dir, 's.sock');
    const l = new HttpListeners({ logger: silentLogger }, { listen: [{ path }] });
    l.mount('/', (_req, res) => res.end('api'));
    l.mount('/ui', (_req, res) => res.end('ui'));
    l.mountUpgrade('/ws', (_req, socket) => socket.end('HTTP/1.1 101 Switching Protocols\r\n\r\nhello'));
    await start(l);
    assert.deepEqual(l.addresses, [`unix://${path}`]);
    assert.equal((await get(path, '/v1/services')).body, 'api');
    assert.equal((await get(path, '/ui')).body, 'ui');
    assert.equal((await get(path, '/ui/app.js?x=1')).body, 'ui');
    assert.equal((await get(path, '/uix')).body, 'api', 'a prefix is a path segment');
    assert.match(await upgrade(path, '/ws?token=1'), /^HTTP\/1\.1 101[^]*hello$/);
    const refused = await upgrade(path, '/other');
    assert.match(refused, /^HTTP\/1\.1 404 Not Found\r\n/);
    assert.equal(JSON.parse(refused.split('\r\n\r\n')[1] ?? '').error.code, 'not_found');
    assert.throws(() => l.mount('/ui', () => {}), /already mounted at \/ui/);
    assert.throws(() => l.mountUpgrade('ws', () => {}), /starts with "\/"/);
  });

  it('answers 404 where nothing is mounted', async () => {
    const path = join(dir, 's.sock');
    const l = new HttpListeners({ logger: silentLogger }, { listen: [{ path }] });
    l.mount('/ui', (_req, res) => res.end('ui'));
    await start(l);
    const r = await get(path, '/v1/services');
    assert.equal(r.status, 404);
    assert.equal(JSON.parse(r.body).error.code, 'not_found');
  });

  it('keeps the unix socket 0600, replaces a stale one and refuses one that answers', async () => {
    const path = join(dir, 's.sock');
    const first = await start(new HttpListeners({ logger: silentLogger }, { listen: [{ path }] }));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await assert.rejects(start(new HttpListeners({ logger: silentLogger }, { listen: [{ path }] })), /another manager is already listening on/);
    await first.stop();
    await writeFile(path, 'left behind by a process that died');
    const again = await start(new HttpListeners({ logger: silentLogger }, { listen: [{ path }] }));
    again.mount('/', (_req, res) => res.end('ok'));
    assert.equal((await get(path, '/')).body, 'ok');
  });

  it('refuses a TLS address without credentials', () => {
    assert.throws(() => new HttpListeners({ logger: silentLogger }, { listen: [{ host: '127.0.0.1', port: 0, tls: true }] }), /needs the tls option/);
  });

  it('serves HTTPS and rotates its certificate for new connections', async () => {
    const ca = await TestCa.create();
    const first = await ca.issue({ cn: 'm', ou: 'manager' }, { ips: ['127.0.0.1'] });
    const l = new HttpListeners({ logger: silentLogger }, { listen: [{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 0, tls: true }], tls: { ...first, ca: ca.certificate } });
    l.mount('/', (req, res) => res.end(req.socket instanceof TLSSocket ? 'tls' : 'plain'));
    await start(l);
    const [plain, secure] = l.addresses;
    assert.match(plain ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(secure ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
    const call = (): Promise<Reply> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest({ host: '127.0.0.1', port: Number(new URL(secure ?? '').port), path: '/', ca: ca.certificate, agent: false }, (res) => collect(res, resolve));
        req.on('error', reject);
        req.end();
      });
    const before = await call();
    assert.equal(before.body, 'tls');
    assert.equal(before.peerCert, new X509Certificate(first.cert).serialNumber);
    const second = await ca.issue({ cn: 'm', ou: 'manager' }, { ips: ['127.0.0.1'] });
    l.setTlsCredentials({ ...second, ca: ca.certificate });
    assert.equal((await call()).peerCert, new X509Certificate(second.cert).serialNumber);
  });
});
