import { randomBytes } from 'node:crypto';
import { open as openFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretsError } from './errors.ts';
import { KEY_BYTES, open, seal, type Opener, type Sealer } from './seal.ts';

/** The key file in a manager's data dir: 32 random bytes, mode 0600. */
export function keyPath(dataDir: string): string {
  return join(dataDir, 'secrets.key');
}

/**
 * The manager's secret sealing key. `load` reads `<dataDir>/secrets.key`, creating it (32
 * random bytes, mode 0600, exclusively, so two racing starts cannot make two keys) on first
 * start. The key bytes never leave this object: it seals and opens, nothing else.
 */
export class SealingKey implements Sealer, Opener {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** A key from raw bytes (tests). */
  static fromBytes(bytes: Uint8Array): SealingKey {
    if (bytes.length !== KEY_BYTES) throw new SecretsError('invalid_key', `a sealing key is ${KEY_BYTES} bytes, got ${bytes.length}`);
    return new SealingKey(Buffer.from(bytes));
  }

  /** A fresh random key held in memory only (tests, throwaway stores). */
  static random(): SealingKey {
    return new SealingKey(randomBytes(KEY_BYTES));
  }

  /** Loads the key of a data dir, creating it on first start. */
  static async load(dataDir: string): Promise<SealingKey> {
    const path = keyPath(dataDir);
    const fresh = randomBytes(KEY_BYTES);
    try {
      const fh = await openFile(path, 'wx', 0o600);
      try {
        await fh.writeFile(fresh);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return new SealingKey(fresh);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new SecretsError('io', `cannot create the secret sealing key ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
      const st = await stat(path);
      if ((st.mode & 0o077) !== 0) {
        throw new SecretsError('invalid_key', `the secret sealing key ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}): chmod 600 it`);
      }
    } catch (err) {
      if (err instanceof SecretsError) throw err;
      throw new SecretsError('invalid_key', `cannot read the secret sealing key ${path}: ${(err as Error).message}`, { cause: err });
    }
    if (bytes.length !== KEY_BYTES) {
      throw new SecretsError('invalid_key', `the secret sealing key ${path} is ${bytes.length} bytes, expected ${KEY_BYTES}: it is damaged`);
    }
    return new SealingKey(bytes);
  }

  seal(plaintext: Uint8Array, aad: string): string {
    return seal(this.#key, plaintext, aad);
  }

  open(sealed: string, aad: string): Buffer {
    return open(this.#key, sealed, aad);
  }

  /** Never print the key (util.inspect, JSON, template strings). */
  toJSON(): string {
    return '[SealingKey]';
  }

  toString(): string {
    return '[SealingKey]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[SealingKey]';
  }
}
