import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { TestCa } from '../testing/test-ca.ts';
import { FlotillaClient, isClientError } from './client.ts';
import { contextProblem, contextsPath, loadContexts, resolveTarget, saveContexts } from './contexts.ts';

describe('context resolution', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'flotilla-ctx-'));
  });
  after(() => rm(home, { recursive: true, force: true }));
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({ FLOTILLA_HOME: home, ...extra });
  const prod = { host: 'https://10.0.0.1:4280', ca: 'CA', cert: 'CERT', key: 'KEY' };
  const lab = { host: 'https://10.0.0.2:4280', ca: 'CA2', token: 'T' };

  it('falls back to the local socket with no contexts', () => {
    assert.deepEqual(resolveTarget({ env: env() }), { socketPath: join(home, 'flotilla.sock') });
    assert.deepEqual(loadContexts(env()), { contexts: {} });
  });

  it('orders --host, --context, FLOTILLA_HOST, FLOTILLA_CONTEXT, the current context', async () => {
    saveContexts(env(), { current: 'prod', contexts: { prod, lab } });
    assert.equal((await stat(contextsPath(env()))).mode & 0o777, 0o600);
    const prodTarget = { url: 'https://10.0.0.1:4280', tls: { ca: 'CA', cert: 'CERT', key: 'KEY' } };
    const labTarget = { url: 'https://10.0.0.2:4280', tls: { ca: 'CA2' }, token: 'T' };
    assert.deepEqual(resolveTarget({ env: env() }), prodTarget);
    assert.deepEqual(resolveTarget({ env: env({ FLOTILLA_CONTEXT: 'lab' }) }), labTarget);
    assert.deepEqual(resolveTarget({ env: env({ FLOTILLA_CONTEXT: 'lab', FLOTILLA_HOST: 'unix:///s' }) }), { socketPath: '/s' });
    assert.deepEqual(resolveTarget({ context: 'lab', env: env({ FLOTILLA_HOST: 'unix:///s' }) }), labTarget);
    assert.deepEqual(resolveTarget({ host: 'http://h:1', env: env({ FLOTILLA_CONTEXT: 'lab' }) }), { url: 'http://h:1' });
    assert.deepEqual(resolveTarget({ context: 'default', env: env() }), { socketPath: join(home, 'flotilla.sock') });
  });

  it('refuses --host with --context, and unknown names, saying where the name came from', () => {
    assert.throws(() => resolveTarget({ host: 'unix:///s', context: 'prod', env: env() }), /give --host or --context, not both/);
    assert.throws(() => resolveTarget({ context: 'nope', env: env() }), /no context named "nope" \(from --context\): see `flotilla context ls`/);
    assert.throws(() => resolveTarget({ env: env({ FLOTILLA_CONTEXT: 'nope' }) }), /\(from FLOTILLA_CONTEXT\)/);
  });

  it('reports a corrupt contexts file', async () => {
    const other = await mkdtemp(join(tmpdir(), 'flotilla-ctx-'));
    try {
      await writeFile(join(other, 'contexts.json'), '{"nope": 1}');
      assert.throws(() => loadContexts({ FLOTILLA_HOME: other }), /contexts\.json is not a valid contexts file: no "contexts" object/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('checks imported contexts', () => {
    assert.equal(contextProblem({ ...prod, ca: '-----BEGIN CERTIFICATE-----' }), undefined);
    assert.equal(contextProblem({ ...lab, ca: '-----BEGIN CERTIFICATE-----' }), undefined);
    assert.match(contextProblem({ host: 'https://h:1', ca: '-----BEGIN CERTIFICATE-----' }) ?? '', /no credential/);
    assert.match(contextProblem({ host: 'https://h:1' }) ?? '', /"ca"/);
    assert.match(contextProblem({ host: 'ftp://h' }) ?? '', /bad host/);
    assert.match(contextProblem([]) ?? '', /"host" is missing/);
  });
});

describe('the https transport', () => {
  let ca: TestCa;
  let server: Server;
  let url: string;
  let admin: { key: string; cert: string };
  const seen: Array<{ auth: string | undefined; cn: string | undefined }> = [];
  before(async () => {
    ca = await TestCa.create();
    const tls = await ca.issue({ cn: 'm1', ou: 'manager' }, { ips: ['127.0.0.1'] });
    admin = await ca.issue({ cn: 'admin', ou: 'admin' });
    server = createServer({ ...tls, ca: ca.certificate, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      const socket = req.socket as TLSSocket;
      const cn = socket.authorized ? (socket.getPeerCertificate().subject?.CN as string | undefined) : undefined;
      seen.push({ auth: req.headers.authorization, cn });
      if (cn === 'admin' || req.headers.authorization === 'Bearer good') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('[]');
        return;
      }
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthenticated', message: 'this API needs the admin credential' } }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('authenticates with the client certificate or the bearer token', async () => {
    assert.deepEqual(await new FlotillaClient({ url, tls: { ca: ca.certificate, ...admin } }).listServices(), []);
    assert.equal(seen.at(-1)?.cn, 'admin');
    assert.deepEqual(await new FlotillaClient({ url, tls: { ca: ca.certificate }, token: 'good' }).listServices(), []);
    assert.equal(seen.at(-1)?.auth, 'Bearer good');
  });

  it('says which manager refused, and why', async () => {
    await assert.rejects(new FlotillaClient({ url, tls: { ca: ca.certificate } }).listServices(), (err: unknown) => {
      assert.ok(isClientError(err));
      assert.equal(err.code, 'unauthenticated');
      assert.equal(err.message, `the manager at ${url} refused the request: this API needs the admin credential`);
      return true;
    });
  });

  it('refuses a manager whose certificate is not from the context’s CA, before sending anything', async () => {
    const other = await TestCa.create('other');
    const before = seen.length;
    await assert.rejects(new FlotillaClient({ url, tls: { ca: other.certificate }, token: 'good' }).listServices(), /cannot verify the manager at .*the CA of this context is not the cluster’s/);
    assert.equal(seen.length, before);
  });
});
