import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, open, rm, stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Linux `statfs` f_type of a tmpfs. */
const TMPFS_MAGIC = 0x01021994;

/**
 * Where a task's secret and config files are written: an in-memory file system per task. The
 * real one mounts a tmpfs (`mount -t tmpfs`, so needs root); tests use an in-memory fake.
 */
export interface TaskFileSystem {
  /** Makes `dir` an empty in-memory file system of at least `sizeBytes`. */
  mount(dir: string, sizeBytes: number): Promise<void>;
  /** Writes one file under a mounted `dir` (creating parents) with its owner and mode. */
  write(path: string, data: Uint8Array, owner: { uid: number; gid: number; mode: number }): Promise<void>;
  /** Unmounts `dir` (if mounted) and removes the empty mount point. Idempotent. */
  unmount(dir: string): Promise<void>;
}

/**
 * The real one: `mount -t tmpfs -o size=…,mode=0711,nosuid,nodev,noexec`. Before anything is
 * written it checks (statfs) that the directory really is a tmpfs, so secret data can never
 * land on the agent's disk because a mount silently failed.
 */
export class TmpfsFileSystem implements TaskFileSystem {
  async mount(dir: string, sizeBytes: number): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o711 });
    if (!(await isMountedTmpfs(dir))) {
      const size = Math.max(1 << 20, Math.ceil(sizeBytes / 4096) * 4096 * 2);
      try {
        await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0711,nosuid,nodev,noexec`, 'tmpfs', dir]);
      } catch (err) {
        const stderr = (err as { stderr?: string }).stderr?.trim();
        throw new Error(`cannot mount a tmpfs for the task's secrets at ${dir}: ${stderr || (err as Error).message} (the agent must run as root)`, { cause: err });
      }
    }
    if (!(await isMountedTmpfs(dir))) throw new Error(`${dir} is not a tmpfs after mounting it: refusing to write secrets there`);
  }

  async write(path: string, data: Uint8Array, owner: { uid: number; gid: number; mode: number }): Promise<void> {
    const dir = dirname(path);
    await mkdir(dir, { recursive: true, mode: 0o711 });
    if (!(await isTmpfs(dir))) throw new Error(`${dir} is not on a tmpfs: refusing to write a secret there`);
    const fh = await open(path, 'w', 0o600);
    try {
      await fh.writeFile(data);
    } finally {
      await fh.close();
    }
    await chown(path, owner.uid, owner.gid);
    await chmod(path, owner.mode);
  }

  async unmount(dir: string): Promise<void> {
    if (await isMountedTmpfs(dir)) {
      try {
        await run('umount', [dir]);
      } catch (err) {
        // A busy mount (a container still holds a bind of it) is detached lazily.
        await run('umount', ['-l', dir]).catch(() => {
          throw err;
        });
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

async function isTmpfs(dir: string): Promise<boolean> {
  try {
    return (await statfs(dir)).type === TMPFS_MAGIC;
  } catch {
    return false;
  }
}

/** A tmpfs mounted exactly at `dir` (not merely a folder on one, such as /run itself). */
async function isMountedTmpfs(dir: string): Promise<boolean> {
  try {
    const [self, parent] = await Promise.all([stat(dir), stat(dirname(dir))]);
    return self.dev !== parent.dev && (await isTmpfs(dir));
  } catch {
    return false;
  }
}
