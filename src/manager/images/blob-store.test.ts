import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BlobStore, isBlobError } from './blob-store.ts';

describe('BlobStore', () => {
  let dir: string;
  let blobs: BlobStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-blobs-'));
    blobs = new BlobStore(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('stores a blob under its sha256 and reads it back in pieces', async () => {
    const data = Buffer.from('0123456789'.repeat(100));
    const { digest, size } = await blobs.put([data.subarray(0, 300), data.subarray(300)], 10_000);
    assert.equal(digest, createHash('sha256').update(data).digest('hex'));
    assert.equal(size, 1000);
    assert.ok(await blobs.has(digest));
    const first = await blobs.read(digest, 0, 600);
    const rest = await blobs.read(digest, 600, 600);
    assert.equal(first.eof, false);
    assert.equal(rest.eof, true);
    assert.deepEqual(Buffer.concat([first.data, rest.data]), data);
    assert.deepEqual(await blobs.read(digest, 1000, 10), { data: Buffer.alloc(0), eof: true });
    await blobs.remove(digest);
    assert.equal(await blobs.has(digest), false);
  });

  it('refuses more than the limit and keeps nothing of it', async () => {
    await assert.rejects(blobs.put([Buffer.alloc(600), Buffer.alloc(600)], 1000), (e) => isBlobError(e) && e.code === 'too_large');
    assert.deepEqual(await readdir(join(dir, 'tmp')), [], 'no partial file is left');
    const w = await blobs.writer(1000);
    await w.write(Buffer.from('half'));
    await blobs.clearTemporary();
    await assert.rejects(w.commit(), 'an unfinished blob is gone once cleared');
  });

  it('says so for an unknown or malformed digest', async () => {
    await assert.rejects(blobs.read('f'.repeat(64), 0, 1), (e) => isBlobError(e) && e.code === 'not_found');
    assert.throws(() => blobs.path('../../etc/passwd'), (e) => isBlobError(e) && e.code === 'invalid');
  });
});
