import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '../api/agent-protocol.ts';
import type { JoinResponse } from '../api/join.ts';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { CertificateAuthority } from './ca/authority.ts';
import { newNodeKey } from '../testing/node-key.ts';
import { Manager } from './manager.ts';

/**
 * The manager's HTTPS port end to end, on 127.0.0.1: open, node and admin routes, joins, token
 * rotation, renewal, node removal, and the mutual-TLS agent session.
 */

interface Creds {
  readonly key?: string;
  readonly cert?: string;
  readonly token?: string;
}

interface Reply {
  readonly status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary fields
  readonly body: any;
}

const ADMIN_MESSAGE = 'this API needs the admin credential: a client certificate or a bearer token (see `flotilla context`)';

describe('manager with tls', () => {
  let dir: string;
  let manager: Manager;
  let port: number;
  let ca: string;
  let admin: { key: string; cert: string; token: string };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-tls-'));
    manager = new Manager(
      { clock: new FakeClock(Date.now()), logger: silentLogger },
      { dataDir: dir, tls: { listen: { host: '127.0.0.1', port: 0 }, advertiseAddr: '127.0.0.1' } },
    );
    await manager.start();
    const https = manager.addresses.find((a) => a.startsWith('https://'));
    assert.ok(https, `an https address among ${manager.addresses.join(', ')}`);
    port = Number(new URL(https).port);
    ca = manager.caCertificate;
    const read = (f: string): Promise<string> => readFile(join(dir, 'admin', f), 'utf8');
    admin = { key: await read('key.pem'), cert: await read('cert.pem'), token: (await read('token')).trim() };
  });
  after(async () => {
    await manager.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function call(method: string, path: string, body?: unknown, creds: Creds = {}): Promise<Reply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          ca,
          ...(creds.key ? { key: creds.key, cert: creds.cert } : {}),
          headers: {
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
            ...(creds.token ? { authorization: `Bearer ${creds.token}` } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const json = String(res.headers['content-type']).startsWith('application/json');
            resolve({ status: res.statusCode ?? 0, body: text === '' ? undefined : json ? (JSON.parse(text) as unknown) : text });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  async function joinNode(token: string, hostname: string): Promise<JoinResponse & { key: string }> {
    const { key, csr } = await newNodeKey(hostname);
    const r = await call('POST', '/v1/join', { token, csr, hostname });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return { ...(r.body as JoinResponse), key };
  }

  /** Opens an agent session with a client credential; resolves with the first message or the close. */
  function session(creds: Creds, nodeId?: string): Promise<{ first?: { type: string; message?: string; nodeId?: string }; closed?: { code: number; reason: string }; ws: WebSocket }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/agent/session`, { ca, ...(creds.key ? { key: creds.key, cert: creds.cert } : {}) });
      let first: { type: string } | undefined;
      ws.on('open', () => {
        const description = { hostname: 'h', platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 1e9, memoryBytes: 1e9 }, drivers: ['fake'] };
        ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, ...(nodeId ? { nodeId } : {}), description }));
      });
      ws.on('message', (data: Buffer) => {
        first ??= JSON.parse(data.toString()) as { type: string };
        if (first.type === 'welcome') resolve({ first, ws });
      });
      ws.on('close', (code: number, reason: Buffer) => resolve({ ...(first ? { first } : {}), closed: { code, reason: reason.toString() }, ws }));
      ws.on('error', reject);
    });
  }

  it('serves the CA to anyone', async () => {
    const r = await call('GET', '/v1/ca');
    assert.equal(r.status, 200);
    assert.equal(r.body.certificate, ca);
  });

  it('refuses the API without a credential, with a certificate from another CA, or with a wrong bearer token', async () => {
    const none = await call('GET', '/v1/services');
    assert.equal(none.status, 401);
    assert.equal(none.body.error.code, 'unauthenticated');
    assert.equal(none.body.error.message, ADMIN_MESSAGE);

    const other = (await CertificateAuthority.create('other', Date.now())).ca;
    const { key, csr } = await newNodeKey();
    const { publicKeyFromCsr } = await import('./ca/authority.ts');
    const foreign = await other.issue({ subject: { commonName: 'admin', unit: 'admin' }, publicKey: await publicKeyFromCsr(csr), lifetimeMs: 3600_000, now: Date.now() });
    const r = await call('GET', '/v1/services', undefined, { key, cert: foreign });
    assert.equal(r.status, 401);
    assert.match(r.body.error.details[0].message, /not issued by this cluster's CA/);

    assert.equal((await call('GET', '/v1/nodes', undefined, { token: 'wrong' })).status, 401);
    assert.equal((await call('GET', '/v1/nope', undefined)).status, 401, 'unknown routes are not a way around');
  });

  it('serves the admin with the client certificate or the bearer token', async () => {
    assert.equal((await call('GET', '/v1/services', undefined, { key: admin.key, cert: admin.cert })).status, 200);
    assert.equal((await call('GET', '/v1/services', undefined, { token: admin.token })).status, 200);
    const tokens = await call('GET', '/v1/tokens', undefined, { token: admin.token });
    assert.deepEqual(tokens.body, manager.joinTokens());
  });

  it('serves /metrics to a scraper with the admin bearer token (or certificate) only', async () => {
    assert.equal((await call('GET', '/metrics')).status, 401);
    const scraped = await call('GET', '/metrics', undefined, { token: admin.token });
    assert.equal(scraped.status, 200);
    assert.match(String(scraped.body), /^# HELP flotilla_/m);
    assert.equal((await call('GET', '/metrics', undefined, { key: admin.key, cert: admin.cert })).status, 200);
  });

  it('joins: a wrong token is 401 with nothing created; a right one gets a certificate with its id and role', async () => {
    const before = manager.store.nodes.size;
    const { csr } = await newNodeKey();
    const wrong = manager.joinTokens().worker.replace(/.{32}$/, '0'.repeat(32));
    const r = await call('POST', '/v1/join', { token: wrong, csr, hostname: 'x' });
    assert.equal(r.status, 401);
    assert.equal(r.body.error.message, 'invalid join token');
    assert.equal(manager.store.nodes.size, before);

    const w = await joinNode(manager.joinTokens().worker, 'w1');
    assert.equal(w.role, 'worker');
    assert.equal(w.ca, ca);
    assert.equal(new X509Certificate(w.certificate).subject, `CN=${w.nodeId}\nOU=worker\nO=${manager.store.table('cluster').all()[0]?.id}`);
    const m = await joinNode(manager.joinTokens().manager, 'm1');
    assert.equal(m.role, 'manager');
    assert.equal(manager.store.nodes.size, before + 2);
  });

  it('a node certificate opens the agent session and renews; it is not an admin credential', async () => {
    const w = await joinNode(manager.joinTokens().worker, 'w2');
    const creds = { key: w.key, cert: w.certificate };
    const s = await session(creds);
    assert.equal(s.first?.type, 'welcome');
    assert.equal(s.first?.nodeId, w.nodeId);
    s.ws.close();
    assert.equal(manager.store.nodes.get(w.nodeId)?.status.state, 'ready');

    const { csr } = await newNodeKey();
    const renewed = await call('POST', '/v1/renew', { csr }, creds);
    assert.equal(renewed.status, 200, JSON.stringify(renewed.body));
    assert.equal(new X509Certificate(renewed.body.certificate).subject.split('\n')[0], `CN=${w.nodeId}`);
    assert.equal((await call('POST', '/v1/renew', { csr })).status, 401, 'renew without a certificate');
    assert.equal((await call('GET', '/v1/services', undefined, creds)).status, 401);

    const lying = await session(creds, 'someone-else');
    assert.equal(lying.first?.type, 'error');
    assert.match(lying.first?.message ?? '', /certificate is node/);
  });

  it('refuses an agent session without a client certificate', async () => {
    const s = await session({});
    assert.equal(s.first?.type, 'error');
    assert.equal(s.closed?.code, 1008);
    assert.match(s.first?.message ?? '', /no client certificate/);
  });

  it('rotating the worker token refuses the old one and keeps joined nodes connected', async () => {
    const old = manager.joinTokens().worker;
    const w = await joinNode(old, 'w3');
    const rotated = await call('POST', '/v1/tokens/worker/rotate', undefined, { token: admin.token });
    assert.equal(rotated.status, 200);
    assert.notEqual(rotated.body.worker, old);
    const { csr } = await newNodeKey();
    assert.equal((await call('POST', '/v1/join', { token: old, csr, hostname: 'late' })).status, 401);
    const s = await session({ key: w.key, cert: w.certificate });
    assert.equal(s.first?.type, 'welcome');
    s.ws.close();
  });

  it('node rm: refused for a ready node without force; afterwards the node certificate is refused', async () => {
    const w = await joinNode(manager.joinTokens().worker, 'w4');
    const creds = { key: w.key, cert: w.certificate };
    const s = await session(creds);
    assert.equal(s.first?.type, 'welcome');
    const closed = new Promise<number>((resolve) => s.ws.once('close', (code: number) => resolve(code)));

    const refused = await call('DELETE', `/v1/nodes/${w.nodeId}`, undefined, { token: admin.token });
    assert.equal(refused.status, 412);
    assert.equal(refused.body.error.code, 'failed_precondition');
    assert.ok(manager.store.nodes.get(w.nodeId));

    assert.equal((await call('DELETE', `/v1/nodes/${w.nodeId}?force=true`, undefined, { token: admin.token })).status, 204);
    assert.equal(manager.store.nodes.get(w.nodeId), undefined);
    await closed;

    const again = await session(creds);
    assert.equal(again.first?.type, 'error');
    assert.match(again.first?.message ?? '', /removed from the cluster/);
    assert.equal(manager.store.nodes.get(w.nodeId), undefined, 'the agent did not bring it back');
    const { csr } = await newNodeKey();
    assert.equal((await call('POST', '/v1/renew', { csr }, creds)).status, 401);
  });

  it('keeps the unix socket fully trusted', async () => {
    const { connect } = await import('node:net');
    const body = await new Promise<string>((resolve, reject) => {
      const s = connect(manager.socketPath, () => s.end('GET /v1/tokens HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString()));
      s.on('end', () => resolve(text));
      s.on('error', reject);
    });
    assert.match(body, /^HTTP\/1\.1 200/);
  });
});
