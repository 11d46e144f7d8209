import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';
import { newId } from '../../lib/ids.ts';

export type BlobErrorCode = 'too_large' | 'not_found' | 'invalid';

/** A blob could not be written or read. */
export class BlobError extends CodedError<BlobErrorCode> {
  override readonly name = 'BlobError';
}
export const isBlobError = errorGuard(BlobError);

const DIGEST = /^[0-9a-f]{64}$/;

/** A blob being written: bytes in order, then `commit` (named by its digest) or `abort`. */
export interface BlobWriter {
  /** Bytes written so far. */
  readonly size: number;
  write(chunk: Buffer): Promise<void>;
  /** Finishes the blob: its sha256 (hex) and size. */
  commit(): Promise<{ readonly digest: string; readonly size: number }>;
  /** Drops what was written. Idempotent. */
  abort(): Promise<void>;
}

/**
 * Content-addressed blobs on the manager's disk (`<dir>/sha256/<hex>`): built images' archives,
 * and build contexts while they are built (`<dir>/tmp/`). A blob is written to a temporary file
 * and renamed to its digest once complete, so a blob that exists is whole. Sizes are bounded by
 * the writer's `maxBytes`.
 */
export class BlobStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** The file of a committed blob. */
  path(digest: string): string {
    if (!DIGEST.test(digest)) throw new BlobError('invalid', `not a sha256 digest: ${JSON.stringify(digest)}`);
    return join(this.#dir, 'sha256', digest);
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  /** A writer of a new blob of at most `maxBytes`; writing more fails with `too_large`. */
  async writer(maxBytes: number): Promise<BlobWriter> {
    const tmp = join(this.#dir, 'tmp');
    await mkdir(tmp, { recursive: true, mode: 0o700 });
    await mkdir(join(this.#dir, 'sha256'), { recursive: true, mode: 0o700 });
    const file = join(tmp, newId());
    const out: WriteStream = createWriteStream(file, { mode: 0o600 });
    const hash = createHash('sha256');
    let size = 0;
    let done = false;
    const close = (): Promise<void> => new Promise((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    const abort = async (): Promise<void> => {
      if (done) return;
      done = true;
      out.destroy();
      await rm(file, { force: true });
    };
    return {
      get size() {
        return size;
      },
      write: async (chunk) => {
        if (done) throw new BlobError('invalid', 'blob writer is closed');
        size += chunk.length;
        if (size > maxBytes) {
          await abort();
          throw new BlobError('too_large', `more than ${maxBytes} bytes`);
        }
        hash.update(chunk);
        if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
      },
      commit: async () => {
        if (done) throw new BlobError('invalid', 'blob writer is closed');
        done = true;
        await close();
        const digest = hash.digest('hex');
        await rename(file, this.path(digest));
        return { digest, size };
      },
      abort,
    };
  }

  /** Writes all of `source` as one blob (`too_large` past `maxBytes`, nothing kept). */
  async put(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, maxBytes: number): Promise<{ readonly digest: string; readonly size: number }> {
    const w = await this.writer(maxBytes);
    try {
      for await (const chunk of source) await w.write(Buffer.from(chunk));
      return await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }

  /** Up to `length` bytes of a blob from `offset`; `eof` when they reach its end. */
  async read(digest: string, offset: number, length: number): Promise<{ readonly data: Buffer; readonly eof: boolean }> {
    let fh;
    try {
      fh = await open(this.path(digest), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobError('not_found', `no blob ${digest}`);
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      const n = Math.max(0, Math.min(length, size - offset));
      const data = Buffer.alloc(n);
      if (n > 0) await fh.read(data, 0, n, offset);
      return { data, eof: offset + n >= size };
    } finally {
      await fh.close();
    }
  }

  /**
   * Removes what writers left unfinished (a manager that stopped mid-upload). Only for the
   * blob store's one owner, at its start: a writer in progress would lose its file.
   */
  async clearTemporary(): Promise<void> {
    await rm(join(this.#dir, 'tmp'), { recursive: true, force: true });
  }

  /** Removes a blob (no error when it is gone). */
  async remove(digest: string): Promise<void> {
    await rm(this.path(digest), { force: true });
  }
}
