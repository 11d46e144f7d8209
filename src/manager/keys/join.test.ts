import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { caDigest, formatJoinToken, joinTokenVerifier, newTokenSecret, type JoinToken } from '../../api/join.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { isKeyError, type KeyErrorCode } from './errors.ts';
import { kekFromJoinToken } from './join.ts';
import { KeyEncryptionKey, kekPath } from './kek.ts';
import { Keyring } from './keyring.ts';
import { MANAGER_TOKEN_KEK_NAME, unwrapWithToken, wrapUnderToken } from './token-wrap.ts';

/**
 * The key-encryption key wrapped under the manager join token: what the token opens, what it
 * does not, and a manager's data dir joining with it (kek.key written only when the token is
 * right).
 */

const CA_PEM = `-----BEGIN CERTIFICATE-----\n${randomBytes(48).toString('base64')}\n-----END CERTIFICATE-----\n`;
const DIGEST = caDigest(CA_PEM);
const token = (secret = newTokenSecret(), digest = DIGEST): JoinToken => ({ caDigest: digest, secret });

function refusedWith(code: KeyErrorCode, pattern?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(isKeyError(e), String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes('\n'), 'one line');
    if (pattern) assert.match(e.message, pattern);
    return true;
  };
}

describe('the KEK wrapped under the manager join token', () => {
  const kek = randomBytes(32);
  const id = KeyEncryptionKey.fromBytes(kek).id;

  it('opens with the token it was wrapped under, and with no other', () => {
    const t = token();
    const record = { id: MANAGER_TOKEN_KEK_NAME, ...wrapUnderToken(kek, id, t) };
    assert.equal(record.wrappedUnder, 'managerToken');
    assert.equal(record.kekId, id);
    assert.ok(!Buffer.from(record.wrapped, 'base64').includes(kek), 'not in plain text');
    assert.deepEqual(unwrapWithToken(record, t), kek);
    assert.equal(unwrapWithToken(record, token()), undefined, 'another secret');
    assert.equal(unwrapWithToken(record, token(t.secret, 'b'.repeat(64))), undefined, 'another cluster');
  });

  it('is bound to its record: another id, another kekId or a changed byte does not open', () => {
    const t = token();
    const record = { id: MANAGER_TOKEN_KEK_NAME, ...wrapUnderToken(kek, id, t) };
    assert.equal(unwrapWithToken({ ...record, id: 'ca' }, t), undefined);
    assert.equal(unwrapWithToken({ ...record, kekId: '0123456789abcdef' }, t), undefined);
    const raw = Buffer.from(record.wrapped, 'base64');
    raw[raw.length - 1]! ^= 1;
    assert.equal(unwrapWithToken({ ...record, wrapped: raw.toString('base64') }, t), undefined);
  });

  it('is not a key the KEK unwraps, and the verifier is not the wrapping key', () => {
    const k = KeyEncryptionKey.fromBytes(kek);
    const t = token();
    const record = { id: MANAGER_TOKEN_KEK_NAME, ...k.wrapUnderToken(t) };
    assert.throws(() => k.unwrap(record), refusedWith('unwrap_failed'));
    // The verifier is public (in the store): it must not open the record.
    const verifier = joinTokenVerifier(t);
    assert.equal(unwrapWithToken(record, { caDigest: t.caDigest, secret: verifier }), undefined);
  });
});

describe('joining with the manager join token', () => {
  let dir: string;
  let store: Store;
  let first: Keyring;
  let secrets: { worker: string; manager: string };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-kek-join-'));
    for (const d of ['first', 'second']) await mkdir(join(dir, d), { mode: 0o700 });
    store = await openMemoryStore({ logger: silentLogger });
    // The first manager: a cluster, its keys, and the KEK shared under the manager token.
    first = await Keyring.open(join(dir, 'first'), store);
    secrets = { worker: newTokenSecret(), manager: newTokenSecret() };
    await store.update((tx) => {
      tx.table('cluster').create({
        id: 'c1',
        caCertificate: CA_PEM,
        tokenVerifiers: { worker: joinTokenVerifier(token(secrets.worker)), manager: joinTokenVerifier(token(secrets.manager)) },
        adminTokenSha256: 'h',
        removedNodeIds: [],
      });
      first.put(tx, 'ca', Buffer.from('the CA key'));
      first.shareWithManagerToken(tx, token(secrets.manager));
    });
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const managerToken = (): string => formatJoinToken(token(secrets.manager));

  it('writes the cluster KEK to kek.key (0600) and opens the cluster keys', async () => {
    const second = join(dir, 'second');
    const keys = await Keyring.open(second, store, { joinToken: managerToken() });
    assert.equal(keys.joined, true);
    assert.equal(keys.kekId, first.kekId);
    assert.deepEqual(await readFile(kekPath(second)), await readFile(kekPath(join(dir, 'first'))));
    assert.equal((await stat(kekPath(second))).mode & 0o777, 0o600);
    assert.deepEqual(keys.get('ca'), Buffer.from('the CA key'));
    // A restart with the same command line: the file is there, the token is not needed.
    const again = await Keyring.open(second, store, { joinToken: formatJoinToken(token()) });
    assert.equal(again.joined, false);
    assert.equal(again.kekId, first.kekId);
  });

  it('refuses a wrong, worker, foreign or malformed token with one line, writing nothing', async () => {
    const second = join(dir, 'second');
    const cases: Array<[string, KeyErrorCode, RegExp]> = [
      [formatJoinToken(token()), 'join_token_invalid', /not cluster c1's current manager token \(mistyped, or rotated since\): print it with `flotilla token manager`/],
      [formatJoinToken(token(secrets.worker)), 'join_token_worker', /worker token, which cannot make a manager/],
      [formatJoinToken(token(secrets.manager, 'a'.repeat(64))), 'join_token_other_cluster', /belongs to another cluster/],
      ['FLT1-nope', 'join_token_invalid', /is not a join token/],
    ];
    for (const [text, code, pattern] of cases) {
      await assert.rejects(Keyring.open(second, store, { joinToken: text }), refusedWith(code, pattern));
      assert.ok(!(refusedMessageHasToken(text)), 'the token is never in the message');
    }
    assert.deepEqual(await readdir(second), [], 'nothing written');
  });

  it('a rotated manager token no longer opens the KEK; the new one does', async () => {
    const old = managerToken();
    const fresh = newTokenSecret();
    await store.update((tx) => {
      const c = tx.table('cluster').get('c1')!;
      tx.table('cluster').update({ ...c, tokenVerifiers: { ...c.tokenVerifiers, manager: joinTokenVerifier(token(fresh)) } });
      first.shareWithManagerToken(tx, token(fresh));
    });
    assert.throws(() => kekFromJoinToken(store, old), refusedWith('join_token_invalid'));
    // Even with the verifier check out of the way, the record does not open under the old token.
    assert.equal(unwrapWithToken(store.table('clusterKey').get(MANAGER_TOKEN_KEK_NAME)!, token(secrets.manager)), undefined);
    assert.deepEqual(KeyEncryptionKey.fromBytes(kekFromJoinToken(store, formatJoinToken(token(fresh)))).id, first.kekId);
  });

  it('a missing KEK file without a token names --join-token and `flotilla token manager`', async () => {
    await assert.rejects(
      Keyring.open(join(dir, 'second'), store),
      refusedWith('kek_missing', /is missing, but the store holds keys wrapped under it .*start it with --join-token \(`flotilla token manager` on a running manager prints it\)/),
    );
  });

  it('nothing to join: an empty store, or a cluster without the shared KEK', async () => {
    const empty = await openMemoryStore({ logger: silentLogger });
    try {
      await assert.rejects(Keyring.open(join(dir, 'x'), empty, { joinToken: managerToken() }), refusedWith('nothing_to_join', /start the first manager without --join-token/));
    } finally {
      await empty.close();
    }
    await store.update((tx) => tx.table('clusterKey').delete(MANAGER_TOKEN_KEK_NAME));
    assert.throws(() => kekFromJoinToken(store, managerToken()), refusedWith('nothing_to_join', /restart one of them with this version/));
  });

  it('a damaged shared record is unwrap_failed', async () => {
    await store.update((tx) => {
      const r = tx.table('clusterKey').get(MANAGER_TOKEN_KEK_NAME)!;
      const raw = Buffer.from(r.wrapped, 'base64');
      raw[20]! ^= 1;
      tx.table('clusterKey').update({ ...r, wrapped: raw.toString('base64') });
    });
    assert.throws(() => kekFromJoinToken(store, managerToken()), refusedWith('unwrap_failed'));
  });

  function refusedMessageHasToken(text: string): boolean {
    try {
      kekFromJoinToken(store, text);
      return false;
    } catch (e) {
      const secret = text.split('-')[2];
      return secret !== undefined && secret.length > 0 && (e as Error).message.includes(secret);
    }
  }
});
