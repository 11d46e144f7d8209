import { readFile, stat } from 'node:fs/promises';

/** How a key file is checked, and how its problems are reported at the caller's boundary. */
export interface KeyFileCheck {
  /** What the key is, for messages ("the key-encryption key"). */
  readonly what: string;
  /** Its exact size in bytes. */
  readonly bytes: number;
  /** Makes the caller's coded error from a message (and the cause, for read errors). */
  readonly error: (message: string, cause?: unknown) => Error;
}

/**
 * Reads a private key file: its bytes, or undefined when there is none. A file readable by
 * group or others, of the wrong size, or unreadable is the caller's error, naming the file and
 * what would make it valid; the key's bytes are never in a message.
 */
export async function readKeyFile(path: string, check: KeyFileCheck): Promise<Buffer | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw check.error(`cannot read ${check.what} ${path}: ${(err as Error).message}`, err);
  }
  const mode = (await stat(path)).mode;
  if ((mode & 0o077) !== 0) {
    throw check.error(`${check.what} ${path} is readable by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`);
  }
  if (bytes.length !== check.bytes) {
    throw check.error(`${check.what} ${path} is ${bytes.length} bytes, expected ${check.bytes}: it is damaged`);
  }
  return bytes;
}
