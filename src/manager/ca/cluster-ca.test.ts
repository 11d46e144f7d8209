import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { withRemovedNode } from '../../api/cluster.ts';
import { isApiError } from '../../api/errors.ts';
import { caDigest, parseJoinToken } from '../../api/join.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { openKeyring } from '../../testing/keyring.ts';
import { CertificateAuthority } from './authority.ts';
import { CA_KEY_NAME, ClusterCa, type ClusterCaOptions } from './cluster-ca.ts';
import { newNodeKey } from '../../testing/node-key.ts';


describe('ClusterCa', () => {
  let dir: string;
  let store: Store;
  let clock: FakeClock;
  const cas: ClusterCa[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-ca-'));
    clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
  });
  afterEach(async () => {
    for (const ca of cas.splice(0)) await ca.stop();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function startCa(options: Partial<ClusterCaOptions> = {}): Promise<ClusterCa> {
    const keys = await openKeyring(dir, store);
    const ca = new ClusterCa({ store, clock, logger: silentLogger, keys }, { dataDir: dir, advertiseAddr: '10.1.0.1', listen: { host: '0.0.0.0', port: 4280 }, ...options });
    cas.push(ca);
    await ca.start();
    return ca;
  }

  it('issues a manager with an id its peer certificate: client auth only, identified as that manager, renewed with the server certificate', async () => {
    assert.equal((await startCa()).peerCredentials, undefined, 'no manager id, no peer certificate');
    await cas.pop()?.stop();
    const ca = await startCa({ managerId: 'mgr-1', certLifetimeMs: 3_000 });
    const peer = ca.peerCredentials;
    assert.ok(peer);
    const cert = new X509Certificate(peer.cert);
    assert.deepEqual(ca.identify(cert), { kind: 'peer', managerId: 'mgr-1' });
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2'], 'clientAuth only: it cannot serve');
    assert.equal(cert.checkIP('10.1.0.1'), undefined);
    const renewed = new Promise<void>((resolve) => ca.onServerCredentials(() => resolve()));
    await clock.advance(2_001);
    await renewed;
    assert.notEqual(ca.peerCredentials?.cert, peer.cert, 'renewed with the server certificate');
  });

  async function joinNode(ca: ClusterCa, token: string, hostname = 'h1'): Promise<{ nodeId: string; role: string; certificate: string }> {
    return ca.join({ token, csr: (await newNodeKey()).csr, hostname }, '10.1.0.2');
  }

  it('creates the cluster on first start: CA key wrapped in the store, CA certificate file, the cluster object, tokens for this CA, the admin credential', async () => {
    const ca = await startCa();
    const tokens = ca.joinTokens();
    for (const t of [tokens.worker, tokens.manager]) {
      const parsed = parseJoinToken(t);
      assert.ok(!('error' in parsed));
      assert.equal(parsed.caDigest, caDigest(ca.caCertificate));
    }
    assert.notEqual(tokens.worker, tokens.manager);
    const cluster = store.table('cluster').get(ca.clusterId);
    assert.equal(cluster?.caCertificate, ca.caCertificate);
    for (const f of ['kek.key', 'ca/ca.pem', 'admin/key.pem', 'admin/cert.pem', 'admin/ca.pem', 'admin/token', 'admin/context.json']) {
      assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, f);
    }
    await assert.rejects(stat(join(dir, 'ca/ca.key')), /ENOENT/, 'the CA key is not a plain-text file');
    const wrapped = store.table('clusterKey').get(CA_KEY_NAME);
    assert.ok(wrapped && !wrapped.wrapped.includes('PRIVATE KEY'));
    const keyPem = (await openKeyring(dir, store)).get(CA_KEY_NAME)?.toString('utf8') ?? '';
    assert.equal((await CertificateAuthority.load(ca.caCertificate, keyPem)).digest, caDigest(ca.caCertificate));
    const context = JSON.parse(await readFile(join(dir, 'admin/context.json'), 'utf8')) as Record<string, string>;
    assert.equal(context['host'], 'https://10.1.0.1:4280');
    assert.equal(context['ca'], ca.caCertificate);
    assert.ok(ca.isAdminToken(context['token'] ?? ''));
    assert.deepEqual(ca.identify(new X509Certificate(context['cert'] ?? '')), { kind: 'admin' });
    const server = new X509Certificate(ca.serverCredentials.cert);
    assert.equal(server.checkIP('10.1.0.1'), '10.1.0.1');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
  });

  it('loads the same cluster on restart: same CA, tokens and admin token', async () => {
    const first = await startCa();
    const tokens = first.joinTokens();
    const adminToken = (await readFile(join(dir, 'admin/token'), 'utf8')).trim();
    await first.stop();
    const again = await startCa();
    assert.equal(again.caCertificate, first.caCertificate);
    assert.deepEqual(again.joinTokens(), tokens);
    assert.ok(again.isAdminToken(adminToken));
    assert.equal(store.table('cluster').size, 1);
  });

  it('refuses to start when the store names a cluster whose CA key is gone', async () => {
    await (await startCa()).stop();
    await rm(join(dir, 'ca'), { recursive: true });
    await store.update((tx) => tx.table('clusterKey').delete(CA_KEY_NAME));
    await assert.rejects(startCa(), /CA key is missing/);
  });

  it("moves an older data dir's ca/ca.key into the store: same CA, same tokens", async () => {
    const first = await startCa();
    const tokens = first.joinTokens();
    await first.stop();
    // The layout of an older version: the key in ca/ca.key, none in the store.
    const keyPem = (await openKeyring(dir, store)).get(CA_KEY_NAME)?.toString('utf8') ?? '';
    await writeFile(join(dir, 'ca/ca.key'), keyPem, { mode: 0o600 });
    await store.update((tx) => tx.table('clusterKey').delete(CA_KEY_NAME));
    const again = await startCa();
    assert.equal(again.caCertificate, first.caCertificate);
    assert.deepEqual(again.joinTokens(), tokens);
    assert.ok(store.table('clusterKey').get(CA_KEY_NAME));
    await assert.rejects(stat(join(dir, 'ca/ca.key')), /ENOENT/);
  });

  it('refuses a leftover ca/ca.key of another cluster', async () => {
    await (await startCa()).stop();
    const other = await CertificateAuthority.create('other', clock.now());
    await writeFile(join(dir, 'ca/ca.pem'), other.ca.certificate, { mode: 0o600 });
    await writeFile(join(dir, 'ca/ca.key'), other.keyPem, { mode: 0o600 });
    await assert.rejects(startCa(), /belongs to another cluster/);
  });

  it('refuses a wrong token with 401 and creates nothing', async () => {
    const ca = await startCa();
    const { worker } = ca.joinTokens();
    const wrongSecret = worker.replace(/-[0-9a-z]{32}$/, `-${'a'.repeat(32)}`);
    for (const token of [wrongSecret, 'FLT1-nonsense', worker.replace(/^FLT1-[0-9a-f]{64}/, `FLT1-${'0'.repeat(64)}`)]) {
      await assert.rejects(joinNode(ca, token), (e) => isApiError(e) && e.code === 'unauthenticated' && /^invalid join token/.test(e.message));
    }
    assert.equal(store.nodes.size, 0);
  });

  it('gives the role of the token that matched: a worker token cannot make a manager', async () => {
    const ca = await startCa();
    const { worker, manager } = ca.joinTokens();
    const w = await joinNode(ca, worker, 'w1');
    const m = await joinNode(ca, manager, 'm1');
    assert.equal(w.role, 'worker');
    assert.equal(m.role, 'manager');
    assert.equal(new X509Certificate(w.certificate).subject, `CN=${w.nodeId}\nOU=worker\nO=${ca.clusterId}`);
    assert.equal(new X509Certificate(m.certificate).subject, `CN=${m.nodeId}\nOU=manager\nO=${ca.clusterId}`);
    const node = store.nodes.get(w.nodeId);
    assert.equal(node?.spec.role, 'worker');
    assert.equal(node?.status.state, 'unknown');
    assert.equal(node?.description.hostname, 'w1');
    assert.equal(store.nodes.get(m.nodeId)?.spec.role, 'manager');
  });

  it('refuses a bad CSR or hostname with invalid_argument and creates nothing', async () => {
    const ca = await startCa();
    const { worker } = ca.joinTokens();
    await assert.rejects(ca.join({ token: worker, csr: 'nope', hostname: 'h' }, 'x'), (e) => isApiError(e) && e.code === 'invalid_argument' && e.details[0]?.path === 'csr');
    await assert.rejects(ca.join({ token: worker, csr: (await newNodeKey()).csr, hostname: 'a b' }, 'x'), (e) => isApiError(e) && e.details[0]?.path === 'hostname');
    assert.equal(store.nodes.size, 0);
  });

  it('rotating a token refuses the old one and keeps joined nodes valid', async () => {
    const ca = await startCa();
    const before = ca.joinTokens();
    const w = await joinNode(ca, before.worker);
    const after = await ca.rotateToken('worker');
    assert.notEqual(after.worker, before.worker);
    assert.equal(after.manager, before.manager);
    await assert.rejects(joinNode(ca, before.worker), (e) => isApiError(e) && e.code === 'unauthenticated');
    assert.equal((await joinNode(ca, after.worker, 'h2')).role, 'worker');
    assert.deepEqual(ca.identify(new X509Certificate(w.certificate)), { kind: 'node', nodeId: w.nodeId, role: 'worker' });
  });

  it('keeps no token secret in the store in plain text: verifiers in the cluster object, secrets wrapped', async () => {
    const ca = await startCa();
    const tokens = ca.joinTokens();
    const cluster = store.table('cluster').get(ca.clusterId);
    assert.ok(cluster);
    assert.equal(cluster.tokenSecrets, undefined);
    assert.match(cluster.tokenVerifiers.manager, /^[0-9a-f]{64}$/);
    const adminToken = (await readFile(join(dir, 'admin/token'), 'utf8')).trim();
    const everything = JSON.stringify([store.table('cluster').all(), store.table('clusterKey').all()]);
    for (const secret of [tokens.worker.slice(-32), tokens.manager.slice(-32), adminToken]) assert.ok(!everything.includes(secret));
    for (const id of ['join-token-worker', 'join-token-manager', 'admin-token', 'kek-manager-token']) assert.ok(store.table('clusterKey').get(id), id);
    assert.equal(store.table('clusterKey').get('kek-manager-token')?.wrappedUnder, 'managerToken');
  });

  it("upgrades an older cluster object in place: its plain-text token secrets move into the store wrapped, the tokens stay", async () => {
    const first = await startCa();
    const tokens = first.joinTokens();
    await first.stop();
    // The cluster object of an older version: the secrets in plain text, no verifiers, none wrapped.
    await store.update((tx) => {
      const c = tx.table('cluster').get(first.clusterId)!;
      const { tokenVerifiers: _, ...rest } = c;
      tx.table('cluster').update({ ...rest, tokenSecrets: { worker: tokens.worker.slice(-32), manager: tokens.manager.slice(-32) } } as unknown as typeof c);
      for (const id of ['join-token-worker', 'join-token-manager', 'admin-token', 'kek-manager-token']) tx.table('clusterKey').delete(id);
    });
    const again = await startCa();
    assert.deepEqual(again.joinTokens(), tokens);
    const cluster = store.table('cluster').get(first.clusterId);
    assert.equal(cluster?.tokenSecrets, undefined);
    assert.ok(!JSON.stringify(cluster).includes(tokens.manager.slice(-32)));
    assert.equal((await joinNode(again, tokens.worker)).role, 'worker');
    assert.ok(store.table('clusterKey').get('kek-manager-token'));
  });

  it('rotating the manager token re-wraps the key-encryption key in the same commit', async () => {
    const ca = await startCa();
    const before = store.table('clusterKey').get('kek-manager-token');
    const revision = store.revision;
    const after = await ca.rotateToken('manager');
    assert.equal(store.revision, revision + 1, 'one commit');
    const now = store.table('clusterKey').get('kek-manager-token');
    assert.ok(before && now && now.wrapped !== before.wrapped && now.kekId === before.kekId);
    assert.equal((await joinNode(ca, after.manager)).role, 'manager');
  });

  it('keeps one admin token per cluster: a stale file takes the cluster’s, a deleted one rotates it', async () => {
    const first = await startCa();
    const token = (await readFile(join(dir, 'admin/token'), 'utf8')).trim();
    await first.stop();
    await writeFile(join(dir, 'admin/token'), 'stale\n', { mode: 0o600 });
    const again = await startCa();
    assert.equal((await readFile(join(dir, 'admin/token'), 'utf8')).trim(), token);
    assert.ok(again.isAdminToken(token));
    await again.stop();
    await rm(join(dir, 'admin/token'));
    const rotated = await startCa();
    const fresh = (await readFile(join(dir, 'admin/token'), 'utf8')).trim();
    assert.notEqual(fresh, token);
    assert.ok(rotated.isAdminToken(fresh) && !rotated.isAdminToken(token));
  });

  it('renews with the current role; identify refuses expired, removed and unknown certificates', async () => {
    const ca = await startCa({ certLifetimeMs: 60_000 });
    const w = await joinNode(ca, ca.joinTokens().worker);
    await store.update((tx) => {
      const n = tx.nodes.get(w.nodeId);
      if (n) tx.nodes.update({ ...n, spec: { ...n.spec, role: 'manager' } });
    });
    await clock.advance(30_000);
    const renewed = await ca.renew(w.nodeId, (await newNodeKey()).csr);
    const cert = new X509Certificate(renewed.certificate);
    assert.match(cert.subject, /OU=manager/);
    assert.equal(cert.validToDate.getTime(), Math.floor((clock.now() + 60_000) / 1000) * 1000);

    await clock.advance(31_000);
    const old = ca.identify(new X509Certificate(w.certificate));
    assert.match(old.kind === 'none' ? old.reason : '', /expired/);
    assert.equal(ca.identify(cert).kind, 'node');
    assert.deepEqual(ca.identify(undefined), { kind: 'none', reason: 'no client certificate was presented' });

    await store.update((tx) => {
      tx.nodes.delete(w.nodeId);
      const c = tx.table('cluster').get(ca.clusterId);
      if (c) tx.table('cluster').update(withRemovedNode(c, w.nodeId));
    });
    const removed = ca.identify(cert);
    assert.match(removed.kind === 'none' ? removed.reason : '', /was removed from the cluster/);
    await assert.rejects(ca.renew(w.nodeId, (await newNodeKey()).csr), (e) => isApiError(e) && e.code === 'unauthenticated');
  });

  it('replaces the server certificate at 2/3 of its lifetime', async () => {
    const ca = await startCa({ certLifetimeMs: 90_000 });
    const first = ca.serverCredentials.cert;
    const seen: string[] = [];
    ca.onServerCredentials((c) => seen.push(c.cert));
    await clock.advance(59_000);
    assert.equal(seen.length, 0);
    await clock.advance(1_000);
    await waitFor(() => seen.length === 1);
    assert.notEqual(ca.serverCredentials.cert, first);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
    await new Promise((r) => setImmediate(r));
  }
}
