import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import dockerignore from '@balena/dockerignore';
import { pack } from 'tar-stream';
import { ClientError } from '../client/client.ts';

/** A build context packed for sending. */
export interface PackedContext {
  readonly tar: Buffer;
  /** sha256 of `tar`, hex: with the options, what the image is named by. */
  readonly digest: string;
  readonly files: number;
}

/** Every entry has this time, so an unchanged context packs to the same bytes. */
const EPOCH = new Date(0);

/**
 * Packs the build context `dir` as a tar the way `docker build` sends one: every file, link
 * and directory under it in name order, except what `.dockerignore` excludes (the Dockerfile
 * and `.dockerignore` itself are always sent, as Docker does). Entries carry the file's mode
 * and content but a fixed time and owner, so the same files give the same bytes and digest
 * (docs/builds.md). Fails with `invalid_argument` when the directory or the Dockerfile is
 * missing, or the files exceed `maxBytes`.
 */
export async function packContext(dir: string, dockerfile: string, maxBytes: number): Promise<PackedContext> {
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new ClientError('invalid_argument', `build context ${dir} is not a directory`);
  const df = await lstat(join(dir, dockerfile)).catch(() => undefined);
  if (!df?.isFile()) throw new ClientError('invalid_argument', `no Dockerfile ${dockerfile} in the build context ${dir}`);
  const rules = await readFile(join(dir, '.dockerignore'), 'utf8').catch(() => '');
  const patterns = rules.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  // A CommonJS module whose `default` is itself: its types describe the ESM view.
  const ig = dockerignore.default().add(patterns);
  // Without exceptions an ignored directory is skipped whole; with them its files are checked one by one.
  const exceptions = patterns.some((p) => p.startsWith('!'));
  const always = new Set([dockerfile.replace(/^\.\//, ''), '.dockerignore']);

  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve, reject) => {
    p.on('end', () => resolve());
    p.on('error', reject);
  });
  const entry = (header: Parameters<typeof p.entry>[0], data?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      const h = { mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '', ...header };
      if (data === undefined) p.entry(h, (err) => (err ? reject(err) : resolve()));
      else p.entry(h, data, (err) => (err ? reject(err) : resolve()));
    });

  let total = 0;
  let files = 0;
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(dir, rel))).sort();
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const full = join(dir, path);
      const s = await lstat(full);
      const ignored = !always.has(path) && ig.ignores(path);
      if (s.isDirectory()) {
        if (ignored && !exceptions) continue;
        if (!ignored) await entry({ name: `${path}/`, type: 'directory', mode: s.mode & 0o7777 });
        await walk(path);
        continue;
      }
      if (ignored) continue;
      if (s.isSymbolicLink()) {
        await entry({ name: path, type: 'symlink', linkname: await readlink(full), mode: s.mode & 0o7777 });
      } else if (s.isFile()) {
        total += s.size;
        if (total > maxBytes) throw new ClientError('invalid_argument', `the build context ${dir} holds more than ${maxBytes} bytes (add a .dockerignore?)`);
        await entry({ name: path, type: 'file', mode: s.mode & 0o7777, size: s.size }, await readFile(full));
        files++;
      }
      // Sockets, fifos and devices are not sent (Docker refuses them too).
    }
  };
  try {
    await walk('');
  } catch (err) {
    p.destroy();
    throw err;
  }
  p.finalize();
  await ended;
  const tar = Buffer.concat(chunks);
  return { tar, digest: createHash('sha256').update(tar).digest('hex'), files };
}
