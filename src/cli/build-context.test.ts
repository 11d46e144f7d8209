import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { extract } from 'tar-stream';
import { builtImageRef, contentHash, isBuiltImageRef } from '../api/build.ts';
import { isClientError } from '../client/client.ts';
import { packContext } from './build-context.ts';

async function entries(tar: Buffer): Promise<string[]> {
  const x = extract();
  Readable.from(tar).pipe(x);
  const names: string[] = [];
  for await (const e of x) {
    names.push(`${e.header.type === 'directory' ? 'd' : e.header.type === 'symlink' ? 'l' : 'f'} ${e.header.name} ${e.header.mtime.getTime()} ${e.header.uid}`);
    e.resume();
  }
  return names;
}

describe('packContext', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-ctx-'));
    await mkdir(join(dir, 'src', 'deep'), { recursive: true });
    await mkdir(join(dir, 'node_modules', 'x'), { recursive: true });
    await mkdir(join(dir, 'logs'), { recursive: true });
    await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
    await writeFile(join(dir, 'src', 'a.js'), 'a');
    await writeFile(join(dir, 'src', 'deep', 'b.js'), 'b');
    await writeFile(join(dir, 'node_modules', 'x', 'i.js'), 'i');
    await writeFile(join(dir, 'logs', 'one.log'), '1');
    await writeFile(join(dir, 'logs', 'keep.log'), 'k');
    await writeFile(join(dir, 'secret.env'), 's');
    await symlink('src/a.js', join(dir, 'link'));
    await writeFile(join(dir, '.dockerignore'), '# comment\nnode_modules\n*.env\nlogs\n!logs/keep.log\nDockerfile\n');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('packs what .dockerignore lets through, the Dockerfile and .dockerignore always, in name order, with a fixed time and owner', async () => {
    const packed = await packContext(dir, 'Dockerfile', 1 << 20);
    assert.deepEqual(await entries(packed.tar), [
      'f .dockerignore 0 0',
      'f Dockerfile 0 0',
      'l link 0 0',
      'f logs/keep.log 0 0',
      'd src/ 0 0',
      'f src/a.js 0 0',
      'd src/deep/ 0 0',
      'f src/deep/b.js 0 0',
    ]);
    assert.equal(packed.files, 5);
  });

  it('packs the same files to the same digest; a changed file changes it', async () => {
    const a = await packContext(dir, 'Dockerfile', 1 << 20);
    const b = await packContext(dir, 'Dockerfile', 1 << 20);
    assert.equal(a.digest, b.digest);
    await writeFile(join(dir, 'src', 'a.js'), 'changed');
    const c = await packContext(dir, 'Dockerfile', 1 << 20);
    assert.notEqual(c.digest, a.digest);
    await writeFile(join(dir, 'node_modules', 'x', 'i.js'), 'ignored change');
    assert.equal((await packContext(dir, 'Dockerfile', 1 << 20)).digest, c.digest, 'an ignored file does not count');
  });

  it('refuses a missing directory, a missing Dockerfile and a context over the limit', async () => {
    await assert.rejects(packContext(join(dir, 'nope'), 'Dockerfile', 1 << 20), (e) => isClientError(e) && /not a directory/.test(e.message));
    await assert.rejects(packContext(dir, 'Other.Dockerfile', 1 << 20), (e) => isClientError(e) && /no Dockerfile Other.Dockerfile/.test(e.message));
    await assert.rejects(packContext(dir, 'Dockerfile', 8), (e) => isClientError(e) && /more than 8 bytes.*dockerignore/.test(e.message));
  });
});

describe('content tags', () => {
  const options = { dockerfile: 'Dockerfile', args: { B: '2', A: '1' }, labels: {} };
  it('name an image by the context and every option, whatever their order', () => {
    const h = contentHash('d'.repeat(64), options);
    assert.match(h, /^[0-9a-f]{64}$/);
    assert.equal(contentHash('d'.repeat(64), { ...options, args: { A: '1', B: '2' } }), h, 'argument order does not matter');
    for (const other of [{ ...options, target: 'prod' }, { ...options, args: { A: '1' } }, { ...options, labels: { l: 'v' } }, { ...options, dockerfile: 'x/Dockerfile' }]) {
      assert.notEqual(contentHash('d'.repeat(64), other), h, JSON.stringify(other));
    }
    assert.notEqual(contentHash('e'.repeat(64), options), h);
    const ref = builtImageRef('shop_web', h);
    assert.equal(ref, `flotilla.local/shop_web:${h}`);
    assert.ok(isBuiltImageRef(ref));
    assert.ok(!isBuiltImageRef('nginx:latest'));
  });
});
