import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isSecretsError } from './errors.ts';
import { open, seal } from './seal.ts';
import { keyPath, SealingKey } from './sealing-key.ts';

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
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a 32-byte 0600 key on first load and reuses it after', async () => {
    const k1 = await SealingKey.load(dir);
    const st = await stat(keyPath(dir));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal((await readFile(keyPath(dir))).length, 32);
    const k2 = await SealingKey.load(dir);
    assert.deepEqual(k2.open(k1.seal(plaintext, 'id'), 'id'), plaintext);
  });

  it('refuses a damaged or world-readable key file', async () => {
    await writeFile(keyPath(dir), Buffer.alloc(10), { mode: 0o600 });
    await assert.rejects(SealingKey.load(dir), (e) => isSecretsError(e) && e.code === 'invalid_key' && /10 bytes/.test(e.message));
    await writeFile(keyPath(dir), Buffer.alloc(32));
    await chmod(keyPath(dir), 0o644);
    await assert.rejects(SealingKey.load(dir), (e) => isSecretsError(e) && /chmod 600/.test(e.message));
  });

  it('never prints its bytes', () => {
    const k = SealingKey.fromBytes(key);
    assert.equal(inspect(k), '[SealingKey]');
    assert.equal(JSON.stringify({ k }), '{"k":"[SealingKey]"}');
  });
});
