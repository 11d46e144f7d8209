import assert from 'node:assert/strict';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { parseJoinToken } from '../api/join.ts';
import type { StoredSecret } from '../api/secret.ts';
import { FlotillaClient } from '../client/client.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { EtcdBackend } from '../store/etcd/etcd-backend.ts';
import type { Store } from '../store/store.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../testing/etcd-server.ts';
import { FlippedLeadership } from '../testing/flipped-leadership.ts';
import { CA_KEY_NAME } from './ca/cluster-ca.ts';
import { isKeyError, type KeyErrorCode } from './keys/errors.ts';
import { kekPath } from './keys/kek.ts';
import { Keyring } from './keys/keyring.ts';
import { Manager, type BackendFactory } from './manager.ts';
import { open } from './secrets/seal.ts';
import { SEALING_KEY_NAME } from './secrets/sealing-key.ts';

/**
 * More managers on one etcd: the first creates the cluster; the others start on a fresh data dir
 * with the manager join token, which unwraps the cluster's key-encryption key — and with it the
 * CA key and the secret sealing key — while etcd holds none of them, nor the token secrets, in
 * plain text. Only the first leads here (the others follow a `FlippedLeadership`).
 */
void describe('managers joining on etcd', { skip: skipUnlessEtcd() }, () => {
  let etcd: EtcdTestCluster;
  let dir: string;
  let backend: BackendFactory;
  let first: Manager;
  const started: Manager[] = [];

  before(async () => {
    [etcd, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'flotilla-join-'))]);
    const root = `/flotilla-join-${randomUUID()}`;
    backend = async ({ clock }) => EtcdBackend.open({ endpoints: etcd.endpoints, root, clock });
    first = manager('first');
    await first.start();
  });
  after(async () => {
    for (const m of started.splice(0).reverse()) await m.stop();
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function manager(name: string, joinToken?: string): Manager {
    const m = new Manager(
      { clock: systemClock, logger: silentLogger },
      {
        dataDir: join(dir, name),
        backend,
        ...(name === 'first' ? {} : { leadership: async () => new FlippedLeadership('follower') }),
        tls: { listen: { host: '127.0.0.1', port: 0 }, advertiseAddr: '127.0.0.1', ...(joinToken === undefined ? {} : { joinToken }) },
      },
    );
    started.push(m);
    return m;
  }

  /** Every key and value in etcd (not only the store's prefix). */
  async function etcdContents(): Promise<Record<string, Buffer>> {
    const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    try {
      return await client.getAll().buffers();
    } finally {
      client.close();
    }
  }

  /** Every value etcd ever held (its whole history, from revision 1 to now: nothing is compacted in this test). */
  async function etcdHistory(): Promise<Buffer[]> {
    const client = new Etcd3({ hosts: etcd.endpoints.map((e) => `http://${e}`) });
    try {
      const now = Number((await client.getAll().exec()).header.revision);
      const values: Buffer[] = [];
      const watcher = await client.watch().prefix('').startRevision('1').create();
      try {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`etcd's history did not reach revision ${now} within 30 s`)), 30_000);
          let seen = 0;
          watcher.on('data', (res) => {
            for (const ev of res.events) {
              if (!ev.kv) continue;
              values.push(ev.kv.value, ev.kv.key);
              seen = Math.max(seen, Number(ev.kv.mod_revision));
            }
            if (seen >= now) {
              clearTimeout(timer);
              resolve();
            }
          });
        });
      } finally {
        await watcher.cancel();
      }
      return values;
    } finally {
      client.close();
    }
  }

  function refused(code: KeyErrorCode, pattern: RegExp): (e: unknown) => boolean {
    return (e) => {
      assert.ok(isKeyError(e), String(e));
      assert.equal(e.code, code, e.message);
      assert.ok(!e.message.includes('\n'), 'one line');
      assert.match(e.message, pattern);
      return true;
    };
  }

  void it('refuses a wrong, worker or foreign token with one line; nothing is written, in the data dir or in etcd', async () => {
    const { worker, manager: managerToken } = first.joinTokens();
    const parsed = parseJoinToken(managerToken);
    assert.ok(!('error' in parsed));
    const before = await etcdContents();
    const cases: Array<[string, KeyErrorCode, RegExp]> = [
      [`FLT1-${parsed.caDigest}-${'0'.repeat(32)}`, 'join_token_invalid', /not cluster \w+'s current manager token \(mistyped, or rotated since\)/],
      [worker, 'join_token_worker', /worker token, which cannot make a manager/],
      [`FLT1-${'a'.repeat(64)}-${parsed.secret}`, 'join_token_other_cluster', /belongs to another cluster/],
    ];
    for (const [token, code, pattern] of cases) {
      await assert.rejects(manager('refused', token).start(), refused(code, pattern));
    }
    assert.deepEqual(await readdir(join(dir, 'refused')), []);
    assert.deepEqual(await etcdContents(), before);
  });

  void it('refuses a fresh data dir without --join-token on a store that has keys, naming --join-token', async () => {
    await assert.rejects(manager('tokenless').start(), refused('kek_missing', /start it with --join-token \(`flotilla token manager` on a running manager prints it\)/));
    assert.deepEqual(await readdir(join(dir, 'tokenless')), []);
  });

  void it('a second manager joins with the manager token: same CA and keys, its own server certificate, the same admin token', async () => {
    const second = manager('second', first.joinTokens().manager);
    await second.start();
    assert.equal(second.caCertificate, first.caCertificate);
    assert.deepEqual(second.joinTokens(), first.joinTokens());
    const [kek1, kek2] = await Promise.all([readFile(kekPath(join(dir, 'first'))), readFile(kekPath(join(dir, 'second')))]);
    assert.deepEqual(kek2, kek1);
    assert.equal((await stat(kekPath(join(dir, 'second')))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(dir, 'second', 'ca', 'ca.pem'), 'utf8'), first.caCertificate);
    const adminToken = (d: string): Promise<string> => readFile(join(dir, d, 'admin', 'token'), 'utf8');
    assert.equal(await adminToken('second'), await adminToken('first'));

    // Its HTTPS listener presents a certificate of its own, signed by the cluster CA.
    const https = second.addresses.find((a) => a.startsWith('https://'));
    assert.ok(https);
    const cert = await serverCertificate(Number(new URL(https).port), first.caCertificate);
    assert.ok(cert.verify(new X509Certificate(first.caCertificate).publicKey));
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    const firstHttps = first.addresses.find((a) => a.startsWith('https://'));
    assert.ok(firstHttps);
    assert.notEqual(cert.serialNumber, (await serverCertificate(Number(new URL(firstHttps).port), first.caCertificate)).serialNumber);

    // A secret created through the first manager's API opens with the second's sealing key.
    const created = await new FlotillaClient({ socketPath: first.socketPath }).createSecret({ name: 'db-password' }, Buffer.from('hunter2'));
    const secret = await appears(second.store, created.id);
    const keys = await Keyring.open(join(dir, 'second'), second.store);
    const sealingKey = keys.get(SEALING_KEY_NAME);
    assert.ok(sealingKey);
    assert.deepEqual(open(sealingKey, secret.sealed, secret.id), Buffer.from('hunter2'));
    assert.ok(keys.get(CA_KEY_NAME)?.toString('utf8').includes('PRIVATE KEY'));
  });

  void it('etcd holds no key-encryption key, CA key, sealing key, token secret or admin token in plain text, now or in its history', async () => {
    const keys = await Keyring.open(join(dir, 'first'), first.store);
    const caKey = keys.get(CA_KEY_NAME)!.toString('utf8');
    const caKeyDer = Buffer.from(caKey.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
    const tokens = first.joinTokens();
    const needles: Array<[string, Buffer]> = [
      ['the KEK', await readFile(kekPath(join(dir, 'first')))],
      ['the sealing key', keys.get(SEALING_KEY_NAME)!],
      ['the CA key', caKeyDer],
      ['the worker token secret', Buffer.from(tokens.worker.slice(-32))],
      ['the manager token secret', Buffer.from(tokens.manager.slice(-32))],
      ['the admin token', Buffer.from((await readFile(join(dir, 'first', 'admin', 'token'), 'utf8')).trim())],
    ];
    const contents = await etcdContents();
    assert.ok(Object.keys(contents).length > 10, 'etcd holds the cluster');
    const history = await etcdHistory();
    assert.ok(history.length >= 2 * Object.keys(contents).length, 'the history holds every key at least once');
    for (const [what, bytes] of needles) {
      const forms = [bytes, Buffer.from(bytes.toString('base64')), Buffer.from(bytes.toString('base64url')), Buffer.from(bytes.toString('hex'))];
      for (const [key, value] of Object.entries(contents)) {
        for (const form of forms) assert.ok(!value.includes(form) && !key.includes(form.toString()), `${what} is in plain text under ${key}`);
      }
      for (const value of history) for (const form of forms) assert.ok(!value.includes(form), `${what} is in plain text in etcd's history`);
    }
  });

  void it('rotating the manager token re-wraps the key-encryption key: the old token no longer makes a manager, the new one does', async () => {
    const old = first.joinTokens().manager;
    const rotated = await new FlotillaClient({ socketPath: first.socketPath }).rotateJoinToken('manager');
    assert.notEqual(rotated.manager, old);
    await assert.rejects(manager('third', old).start(), refused('join_token_invalid', /rotated since/));
    const third = manager('third', rotated.manager);
    await third.start();
    assert.equal(third.caCertificate, first.caCertificate);
    assert.deepEqual(third.joinTokens(), rotated);
    // The managers that joined before keep working: their kek.key still opens every key.
    assert.deepEqual(await readFile(kekPath(join(dir, 'third'))), await readFile(kekPath(join(dir, 'first'))));
  });
});

/** Resolves with the secret once `store` holds it (its watch follows etcd). */
function appears(store: Store, id: string): Promise<StoredSecret> {
  return new Promise((resolve, reject) => {
    const found = (): void => {
      const obj = store.table('secret').get(id);
      if (!obj) return;
      clearTimeout(timer);
      stop();
      resolve(obj);
    };
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`secret ${id} did not reach the second manager's store within 30 s`));
    }, 30_000);
    const stop = store.watch(found, { kinds: ['secret'] });
    found();
  });
}

/** The certificate a TLS server on 127.0.0.1:`port` presents, verified against `ca`. */
async function serverCertificate(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (!socket.authorized || !cert) reject(new Error(`the server certificate does not verify: ${String(socket.authorizationError)}`));
      else resolve(cert);
    });
    socket.once('error', reject);
  });
}
