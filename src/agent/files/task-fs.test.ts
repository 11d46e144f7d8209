import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TmpfsFileSystem } from './task-fs.ts';

const root = process.getuid?.() === 0;

describe('TmpfsFileSystem', { skip: root ? false : 'needs root to mount a tmpfs' }, () => {
  it('mounts a tmpfs, writes files with owner and mode, and unmounts', async () => {
    const base = await mkdtemp(join(tmpdir(), 'flotilla-tmpfs-'));
    const dir = join(base, 'tasks', 't1');
    const fs = new TmpfsFileSystem();
    try {
      await fs.mount(dir, 100);
      assert.equal((await statfs(dir)).type, 0x01021994);
      await fs.write(join(dir, 'secrets', 'pw'), Buffer.from('s3cret'), { uid: 1000, gid: 1001, mode: 0o400 });
      const st = await stat(join(dir, 'secrets', 'pw'));
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1000, 1001, 0o400]);
      assert.equal(await readFile(join(dir, 'secrets', 'pw'), 'utf8'), 's3cret');
      await fs.mount(dir, 100); // idempotent: already a tmpfs there
      await fs.unmount(dir);
      await assert.rejects(stat(dir), /ENOENT/);
      await fs.unmount(dir); // idempotent
    } finally {
      await fs.unmount(dir).catch(() => undefined);
      await rm(base, { recursive: true, force: true });
    }
  });

  it('refuses to write outside a tmpfs', async (t) => {
    const base = await mkdtemp(join(tmpdir(), 'flotilla-tmpfs-'));
    try {
      if ((await statfs(base)).type === 0x01021994) return t.skip('the temporary directory is itself on a tmpfs');
      await assert.rejects(new TmpfsFileSystem().write(join(base, 'x'), Buffer.from('s'), { uid: 0, gid: 0, mode: 0o400 }), /not on a tmpfs/);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });
});
