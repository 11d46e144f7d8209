import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Cluster } from '../api/cluster.ts';
import { caDigest, newTokenSecret } from '../api/join.ts';
import { newId } from '../lib/ids.ts';
import { silentLogger } from '../lib/logger.ts';
import { statePath } from '../lib/paths.ts';
import { SqliteBackend } from '../store/sqlite/sqlite-backend.ts';
import { Store } from '../store/store.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { makeNode } from '../testing/fixtures.ts';
import { CertificateAuthority } from './ca/authority.ts';
import { CA_KEY_NAME } from './ca/cluster-ca.ts';
import { joinTokens, sha256 } from './ca/tokens.ts';
import { isKeyError } from './keys/errors.ts';
import { kekPath } from './keys/kek.ts';
import { Keyring } from './keys/keyring.ts';
import { Manager } from './manager.ts';
import { open, seal } from './secrets/seal.ts';
import { SEALING_KEY_NAME } from './secrets/sealing-key.ts';

/**
 * Where a manager keeps its private keys: wrapped in the store under the key-encryption key of
 * `<dataDir>/kek.key`. A data dir of an older version (keys in `ca/ca.key` and `secrets.key`)
 * is upgraded in place; a missing or wrong KEK stops the start with one line.
 */

const PLAINTEXT = Buffer.from('correct horse battery staple');

/** A data dir as an older version left it: CA and sealing key in plain files, none in the store. */
async function writeOldLayout(dir: string): Promise<{ ca: CertificateAuthority; tokens: { worker: string; manager: string }; secretId: string }> {
  const { ca, keyPem } = await CertificateAuthority.create(newId(), Date.now());
  await mkdir(join(dir, 'ca'), { recursive: true, mode: 0o700 });
  await writeFile(join(dir, 'ca/ca.pem'), ca.certificate, { mode: 0o600 });
  await writeFile(join(dir, 'ca/ca.key'), keyPem, { mode: 0o600 });
  const sealingKey = randomBytes(32);
  await writeFile(join(dir, 'secrets.key'), sealingKey, { mode: 0o600 });
  const store = await Store.open(SqliteBackend.open(statePath(dir)), { logger: silentLogger, closeBackend: true });
  const tokenSecrets = { worker: newTokenSecret(), manager: newTokenSecret() };
  const secretId = newId();
  await store.update((tx) => {
    // An older version's cluster object: token secrets in plain text, no verifiers.
    tx.table('cluster').create({ id: ca.clusterId, caCertificate: ca.certificate, tokenSecrets, adminTokenSha256: sha256('old-admin-token'), removedNodeIds: [] } as unknown as Cluster);
    tx.table('secret').create({ id: secretId, spec: { name: 'db-password', labels: {} }, sizeBytes: PLAINTEXT.length, sealed: seal(sealingKey, PLAINTEXT, secretId) });
  });
  await store.close();
  return { ca, tokens: joinTokens(tokenSecrets, caDigest(ca.certificate)), secretId };
}

describe('manager keys', () => {
  let dir: string;
  const managers: Manager[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-keys-'));
  });
  afterEach(async () => {
    for (const m of managers.splice(0)) await m.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function newManager(tls: boolean): Manager {
    const m = new Manager(
      { clock: new FakeClock(Date.now()), logger: silentLogger },
      { dataDir: dir, ...(tls ? { tls: { listen: { host: '127.0.0.1', port: 0 }, advertiseAddr: '127.0.0.1' } } : {}) },
    );
    managers.push(m);
    return m;
  }

  async function restart(m: Manager, tls: boolean): Promise<Manager> {
    await m.stop();
    const again = newManager(tls);
    await again.start();
    return again;
  }

  it('keeps the CA key and the sealing key only wrapped in the store; the KEK file is 0600', async () => {
    const m = newManager(true);
    await m.start();
    assert.equal((await stat(kekPath(dir))).mode & 0o777, 0o600);
    await assert.rejects(stat(join(dir, 'ca/ca.key')), /ENOENT/);
    await assert.rejects(stat(join(dir, 'secrets.key')), /ENOENT/);
    const keys = await Keyring.open(dir, m.store);
    for (const name of [CA_KEY_NAME, SEALING_KEY_NAME]) {
      const record = m.store.table('clusterKey').get(name);
      assert.ok(record, `${name} is in the store`);
      assert.equal(record.algorithm, 'AES-256-GCM');
      assert.equal(record.kekId, keys.kekId);
      const plain = keys.get(name);
      assert.ok(plain && !Buffer.from(record.wrapped, 'base64').includes(plain), `${name} is not stored in plain text`);
    }
    const again = await restart(m, true);
    assert.equal(again.caCertificate, m.caCertificate);
    assert.deepEqual(again.joinTokens(), m.joinTokens());
  });

  it('upgrades an older data dir in place: same CA and join tokens, existing secrets still open', async () => {
    const old = await writeOldLayout(dir);
    let m = newManager(true);
    await m.start();
    assert.equal(m.caCertificate, old.ca.certificate);
    assert.deepEqual(m.joinTokens(), old.tokens);
    await assert.rejects(stat(join(dir, 'ca/ca.key')), /ENOENT/, 'the plain-text CA key is gone');
    await assert.rejects(stat(join(dir, 'secrets.key')), /ENOENT/, 'the plain-text sealing key is gone');
    assert.equal(await readFile(join(dir, 'ca/ca.pem'), 'utf8'), old.ca.certificate, 'the CA certificate file stays');
    // The token secrets left the cluster object: verifiers there, the secrets wrapped.
    const cluster = m.store.table('cluster').get(old.ca.clusterId);
    assert.equal(cluster?.tokenSecrets, undefined);
    assert.ok(!JSON.stringify(m.store.table('cluster').all()).includes(old.tokens.manager.slice(-32)));
    assert.equal(m.store.table('clusterKey').get('kek-manager-token')?.wrappedUnder, 'managerToken');

    m = await restart(m, true);
    assert.equal(caDigest(m.caCertificate), old.ca.digest);
    assert.deepEqual(m.joinTokens(), old.tokens);
    const sealingKey = (await Keyring.open(dir, m.store)).get(SEALING_KEY_NAME);
    const secret = m.store.table('secret').get(old.secretId);
    assert.ok(sealingKey && secret);
    assert.deepEqual(open(sealingKey, secret.sealed, secret.id), PLAINTEXT);
  });

  it('upgrades an older `flotilla dev` data dir (sealing key only)', async () => {
    const sealingKey = randomBytes(32);
    await writeFile(join(dir, 'secrets.key'), sealingKey, { mode: 0o600 });
    const m = newManager(false);
    await m.start();
    assert.deepEqual((await Keyring.open(dir, m.store)).get(SEALING_KEY_NAME), sealingKey);
    await assert.rejects(stat(join(dir, 'secrets.key')), /ENOENT/);
  });

  it('a missing or wrong key-encryption key stops the start with one line naming the file', async () => {
    await newManager(true).start();
    await managers[0]?.stop();
    const kek = await readFile(kekPath(dir));
    await rm(kekPath(dir));
    await assert.rejects(newManager(true).start(), (e) => {
      assert.ok(isKeyError(e) && e.code === 'kek_missing', String(e));
      assert.ok(!e.message.includes('\n'));
      assert.match(e.message, new RegExp(`^the key-encryption key ${kekPath(dir)} is missing, but the store holds keys wrapped under it`));
      return true;
    });
    await writeFile(kekPath(dir), randomBytes(32), { mode: 0o600 });
    await assert.rejects(newManager(false).start(), (e) => {
      assert.ok(isKeyError(e) && e.code === 'kek_mismatch', String(e));
      assert.ok(!e.message.includes('\n'));
      assert.match(e.message, new RegExp(`^the key-encryption key ${kekPath(dir)} \\(key [0-9a-f]{16}\\) is not the one this cluster's keys are wrapped under`));
      return true;
    });
    await writeFile(kekPath(dir), kek.subarray(0, 20), { mode: 0o600 });
    await assert.rejects(newManager(true).start(), (e) => isKeyError(e) && e.code === 'kek_invalid' && /is 20 bytes, expected 32/.test(e.message));
    await writeFile(kekPath(dir), kek, { mode: 0o600 });
    await newManager(true).start();
  });

  it('never sends wrapped keys on the event stream', async () => {
    const m = newManager(true);
    await m.start();
    const kinds = await get(m.socketPath, '/v1/events?kinds=clusterKey');
    assert.equal(kinds.status, 400);
    // History from revision 0, then one node written after: every frame up to it is checked.
    const frames = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath: m.socketPath, path: '/v1/events?since=0' }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
          if (text.includes('"kind":"node"')) {
            req.destroy();
            resolve(text);
          }
        });
        void m.store.update((tx) => tx.nodes.create(makeNode({ id: 'n1' })));
      });
      req.on('error', reject);
      req.end();
    });
    assert.doesNotMatch(frames, /clusterKey|wrapped|kekId|"cluster"/);
  });
});

function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
