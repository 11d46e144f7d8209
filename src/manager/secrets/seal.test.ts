import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isSecretsError } from './errors.ts';
import { open, seal } from './seal.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { openKeyring, type Keyring } from '../../testing/keyring.ts';
import { keyPath, SEALING_KEY_NAME, SealingKey } from './sealing-key.ts';

const key = Buffer.alloc(32, 7);
const plaintext = Buffer.from('hunter2-very-secret');

describe('seal/open', () => {
  it('round-trips and never contains the plaintext', () => {
    const s = seal(key, plaintext, 'sec1');
    assert.ok(!Buffer.from(s, 'base64').includes(plaintext));
    assert.ok(!s.includes('hunter2'));
    assert.deepEqual(open(key, s, 'sec1'), plaintext);
  });

  it('uses a fresh IV each time', () => {
    assert.notEqual(seal(key, plaintext, 'a'), seal(key, plaintext, 'a'));
  });

  it('refuses tampered data, another aad, another key, truncated data', () => {
    const s = seal(key, plaintext, 'sec1');
    const raw = Buffer.from(s, 'base64');
    for (const i of [0, 13, 30, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[i] = (bad[i] ?? 0) ^ 1;
      assert.throws(() => open(key, bad.toString('base64'), 'sec1'), (e) => isSecretsError(e) && e.code === 'tampered');
    }
    assert.throws(() => open(key, s, 'sec2'), (e) => isSecretsError(e) && e.code === 'tampered');
    assert.throws(() => open(Buffer.alloc(32, 8), s, 'sec1'), (e) => isSecretsError(e) && e.code === 'tampered');
    assert.throws(() => open(key, raw.subarray(0, 20).toString('base64'), 'sec1'), (e) => isSecretsError(e) && e.code === 'tampered');
  });

  it('refuses a key of the wrong size', () => {
    assert.throws(() => seal(Buffer.alloc(16), plaintext, 'x'), (e) => isSecretsError(e) && e.code === 'invalid_key');
  });

  it('round-trips empty data', () => {
    assert.equal(open(key, seal(key, Buffer.alloc(0), 'e'), 'e').length, 0);
  });
});

describe('SealingKey', () => {
  let dir: string;
  let store: Store;
  let keys: Keyring;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-key-'));
    store = await openMemoryStore({ logger: silentLogger });
    keys = await openKeyring(dir, store);
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 32-byte key on first open, kept only wrapped in the store, and reuses it after', async () => {
    const k1 = await SealingKey.open({ store, keys }, dir);
    const record = store.table('clusterKey').get(SEALING_KEY_NAME);
    assert.ok(record, 'the key is in the store');
    assert.equal(record.kekId, keys.kekId);
    assert.equal(keys.get(SEALING_KEY_NAME)?.length, 32);
    await assert.rejects(stat(keyPath(dir)), /ENOENT/, 'no plain-text key file');
    const k2 = await SealingKey.open({ store, keys: await openKeyring(dir, store) }, dir);
    assert.deepEqual(k2.open(k1.seal(plaintext, 'id'), 'id'), plaintext);
  });

  it("moves an older data dir's secrets.key into the store: what it sealed still opens", async () => {
    await writeFile(keyPath(dir), key, { mode: 0o600 });
    const sealed = SealingKey.fromBytes(key).seal(plaintext, 'sec1');
    const k = await SealingKey.open({ store, keys }, dir);
    assert.deepEqual(k.open(sealed, 'sec1'), plaintext);
    await assert.rejects(stat(keyPath(dir)), /ENOENT/, 'the plain-text file is gone');
    const again = await SealingKey.open({ store, keys }, dir);
    assert.deepEqual(again.open(sealed, 'sec1'), plaintext);
  });

  it('refuses a damaged or world-readable key file', async () => {
    await writeFile(keyPath(dir), Buffer.alloc(10), { mode: 0o600 });
    await assert.rejects(SealingKey.open({ store, keys }, dir), (e) => isSecretsError(e) && e.code === 'invalid_key' && /10 bytes/.test(e.message));
    await writeFile(keyPath(dir), Buffer.alloc(32));
    await chmod(keyPath(dir), 0o644);
    await assert.rejects(SealingKey.open({ store, keys }, dir), (e) => isSecretsError(e) && /chmod 600/.test(e.message));
    assert.equal(store.table('clusterKey').size, 0, 'nothing stored');
  });

  it('never prints its bytes', () => {
    const k = SealingKey.fromBytes(key);
    assert.equal(inspect(k), '[SealingKey]');
    assert.equal(JSON.stringify({ k }), '{"k":"[SealingKey]"}');
  });
});
