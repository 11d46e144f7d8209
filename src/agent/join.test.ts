import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatJoinToken, newTokenSecret, parseJoinToken } from '../api/join.ts';
import { FakeManagerHttps } from '../testing/fake-manager-https.ts';
import { certificateInfo, loadCredential } from './credentials.ts';
import { ensureCredential, isJoinError, joinCluster, parseManagerAddress, renewCertificate } from './join.ts';
import { loadNodeId } from './node-id.ts';

describe('parseManagerAddress', () => {
  it('takes HOST, HOST:PORT, [V6]:PORT and https:// URLs; the port defaults to 4280', () => {
    assert.deepEqual(parseManagerAddress('10.0.0.1'), { host: '10.0.0.1', port: 4280 });
    assert.deepEqual(parseManagerAddress('mgr.local:7000'), { host: 'mgr.local', port: 7000 });
    assert.deepEqual(parseManagerAddress('[::1]:4281'), { host: '::1', port: 4281 });
    assert.deepEqual(parseManagerAddress('https://10.0.0.1:4280/'), { host: '10.0.0.1', port: 4280 });
  });
  it('refuses anything else with a clear message', () => {
    assert.throws(() => parseManagerAddress('10.0.0.1:99999'), /invalid manager address "10.0.0.1:99999": expected HOST\[:PORT\]/);
    assert.throws(() => parseManagerAddress(''), /invalid manager address/);
  });
});

describe('joining a cluster', () => {
  let m: FakeManagerHttps;
  let dir: string;
  before(async () => {
    m = await FakeManagerHttps.start();
    dir = await mkdtemp(join(tmpdir(), 'flotilla-join-'));
  });
  after(async () => {
    await m.close();
    await rm(dir, { recursive: true, force: true });
  });
  const addr = (): { host: string; port: number } => ({ host: '127.0.0.1', port: m.port });

  it('aborts before sending the token when the manager’s CA does not match the token', async () => {
    m.seen.length = 0;
    const parsed = parseJoinToken(m.workerToken);
    assert.ok(!('error' in parsed));
    const foreign = formatJoinToken({ caDigest: 'f'.repeat(64), secret: parsed.secret });
    await assert.rejects(joinCluster(addr(), foreign, 'h1'), (err: unknown) => {
      assert.ok(isJoinError(err));
      assert.equal(err.code, 'ca_mismatch');
      assert.equal(err.message, `the manager at 127.0.0.1:${m.port} is not the cluster this token belongs to (CA fingerprint mismatch)`);
      return true;
    });
    // Only the CA was fetched: the secret never left the node.
    assert.deepEqual(m.seen.map((r) => `${r.method} ${r.path}`), ['GET /v1/ca']);
    assert.ok(!JSON.stringify(m.seen).includes(parsed.secret));
  });

  it('refuses a malformed token without contacting anyone', async () => {
    m.seen.length = 0;
    await assert.rejects(joinCluster(addr(), 'SWMTKN-1-abc', 'h1'), /malformed join token/);
    assert.equal(m.seen.length, 0);
  });

  it('reports a wrong secret as the manager’s refusal', async () => {
    const parsed = parseJoinToken(m.workerToken);
    assert.ok(!('error' in parsed));
    const wrong = formatJoinToken({ caDigest: parsed.caDigest, secret: newTokenSecret() });
    await assert.rejects(joinCluster(addr(), wrong, 'h1'), (err: unknown) => isJoinError(err) && err.code === 'refused' && /invalid join token/.test(err.message));
  });

  it('joins with the right token, stores the credential 0600 and reuses it on restart', async () => {
    const first = await ensureCredential({ dataDir: dir, manager: addr(), token: m.workerToken, hostname: 'h1', now: Date.now() });
    assert.equal(first.joined, true);
    assert.equal(first.role, 'worker');
    assert.equal(certificateInfo(first.credential.cert).commonName, first.nodeId);
    assert.equal(await loadNodeId(dir), first.nodeId);
    for (const f of ['key.pem', 'cert.pem', 'ca.pem']) assert.equal((await stat(join(dir, 'tls', f))).mode & 0o777, 0o600, f);
    assert.equal(await readFile(join(dir, 'tls', 'ca.pem'), 'utf8'), m.ca.certificate);

    const joins = m.seen.filter((r) => r.path === '/v1/join').length;
    const again = await ensureCredential({ dataDir: dir, manager: addr(), hostname: 'h1', now: Date.now() });
    assert.equal(again.joined, false);
    assert.equal(again.nodeId, first.nodeId);
    assert.equal(m.seen.filter((r) => r.path === '/v1/join').length, joins, 'no second join');
  });

  it('refuses a token of another cluster for a data dir that already joined one', async () => {
    const other = formatJoinToken({ caDigest: 'a'.repeat(64), secret: newTokenSecret() });
    await assert.rejects(ensureCredential({ dataDir: dir, manager: addr(), token: other, hostname: 'h1', now: Date.now() }), /already holds the credential of another cluster/);
  });

  it('asks for a token when the node never joined', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'flotilla-join-'));
    try {
      await assert.rejects(ensureCredential({ dataDir: empty, manager: addr(), hostname: 'h1', now: Date.now() }), /has not joined a cluster yet .* pass --token/);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('renews with the current certificate: same node, new key', async () => {
    const current = await loadCredential(dir);
    assert.ok(current);
    m.seen.length = 0;
    const next = await renewCertificate(addr(), current);
    assert.equal(m.seen[0]?.path, '/v1/renew');
    assert.equal(m.seen[0]?.clientCn, certificateInfo(current.cert).commonName, 'authenticated by the node certificate');
    assert.equal(certificateInfo(next.cert).commonName, certificateInfo(current.cert).commonName);
    assert.notEqual(next.key, current.key);
  });
});

describe('an expired credential', () => {
  it('needs a token, and with one the node joins again as a new node', async () => {
    const m = await FakeManagerHttps.start();
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-join-'));
    try {
      const addr = { host: '127.0.0.1', port: m.port };
      m.lifetimeMs = 60_000;
      const first = await ensureCredential({ dataDir: dir, manager: addr, token: m.workerToken, hostname: 'h1', now: Date.now() });
      const later = Date.now() + 10 * 60_000;
      await assert.rejects(ensureCredential({ dataDir: dir, manager: addr, hostname: 'h1', now: later }), /certificate expired at .*: join again with --token/);
      const again = await ensureCredential({ dataDir: dir, manager: addr, token: m.workerToken, hostname: 'h1', now: later });
      assert.equal(again.joined, true);
      assert.notEqual(again.nodeId, first.nodeId);
      assert.equal(await loadNodeId(dir), again.nodeId);
    } finally {
      await m.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
