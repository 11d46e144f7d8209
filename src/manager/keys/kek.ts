import { createHash, randomBytes } from 'node:crypto';
import { open as openFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readKeyFile } from '../../lib/key-file.ts';
import { KEY_WRAP_ALGORITHM, type ClusterKey } from '../../api/cluster.ts';
import type { JoinToken } from '../../api/join.ts';
import { KeyError } from './errors.ts';
import { gcmOpen, gcmSeal } from './gcm.ts';
import { wrapUnderToken, type TokenWrappedKek } from './token-wrap.ts';

/** The key-encryption key's file in a manager's data dir: 32 random bytes, mode 0600. */
export function kekPath(dataDir: string): string {
  return join(dataDir, 'kek.key');
}

export const KEK_BYTES = 32;

/** What a wrap produces: the fields of a `ClusterKey` besides the store's own. */
export type WrappedKey = Pick<ClusterKey, 'algorithm' | 'kekId' | 'wrapped'>;

/**
 * The key-encryption key (KEK): wraps the cluster's private keys before they go into the store,
 * with AES-256-GCM. It lives only in a file in the data dir, never in the store, so a copy of
 * the store alone opens nothing. Its `id` is a fingerprint (SHA-256 of a label and the key),
 * which wrapped keys carry: a manager handed a KEK can tell whether it is the right one
 * before trying it, and a rotation can tell old wrappings from new. The key bytes never leave
 * this object.
 */
export class KeyEncryptionKey {
  /** Fingerprint of the key, 16 hex digits; safe to store and print. */
  readonly id: string;
  /** Where the key came from (its file), for error messages. */
  readonly path: string;
  readonly #key: Buffer;

  private constructor(key: Buffer, path: string) {
    this.#key = key;
    this.path = path;
    this.id = kekId(key);
  }

  /** A KEK from raw bytes (tests, and a manager that unwrapped it with the manager join token). */
  static fromBytes(bytes: Uint8Array, path = '(memory)'): KeyEncryptionKey {
    if (bytes.length !== KEK_BYTES) throw new KeyError('kek_invalid', `a key-encryption key is ${KEK_BYTES} bytes, got ${bytes.length}`);
    return new KeyEncryptionKey(Buffer.from(bytes), path);
  }

  /**
   * Reads the KEK file; undefined when there is none. A file of the wrong size or readable by
   * group or others is a `kek_invalid` error naming the file.
   */
  static async read(path: string): Promise<KeyEncryptionKey | undefined> {
    const bytes = await readKeyFile(path, {
      what: 'the key-encryption key',
      bytes: KEK_BYTES,
      error: (message, cause) => new KeyError('kek_invalid', message, cause === undefined ? {} : { cause }),
    });
    if (bytes === undefined) return undefined;
    return new KeyEncryptionKey(bytes, path);
  }

  /**
   * Creates the KEK file (mode 0600, exclusively, so two racing starts cannot make two keys)
   * holding `fresh` (default: 32 random bytes; a joining manager's: the cluster's KEK); when it
   * already exists, reads it instead.
   */
  static async create(path: string, fresh: Buffer = randomBytes(KEK_BYTES)): Promise<KeyEncryptionKey> {
    if (fresh.length !== KEK_BYTES) throw new KeyError('kek_invalid', `a key-encryption key is ${KEK_BYTES} bytes, got ${fresh.length}`);
    try {
      const fh = await openFile(path, 'wx', 0o600);
      try {
        await fh.writeFile(fresh);
        await fh.sync();
      } catch (err) {
        // A short file would stop every later start as "damaged": leave none behind.
        await fh.close().catch(() => {});
        await unlink(path).catch(() => {});
        throw err;
      }
      await fh.close();
      return new KeyEncryptionKey(fresh, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new KeyError('io', `cannot create the key-encryption key ${path}: ${(err as Error).message}`, { cause: err });
      }
    }
    const existing = await KeyEncryptionKey.read(path);
    if (!existing) throw new KeyError('io', `the key-encryption key ${path} vanished while it was being created`);
    return existing;
  }

  /** Wraps the key `name` (the `ClusterKey` id it will be stored under) with a fresh IV. */
  wrap(name: string, plaintext: Uint8Array): WrappedKey {
    return { algorithm: KEY_WRAP_ALGORITHM, kekId: this.id, wrapped: gcmSeal(this.#key, plaintext, aad(name, this.id)).toString('base64') };
  }

  /**
   * This KEK wrapped under a key derived from the manager join token `token` (the record
   * `kek-manager-token`): what lets a manager that presents the token join. See token-wrap.ts.
   */
  wrapUnderToken(token: JoinToken): TokenWrappedKek {
    return wrapUnderToken(this.#key, this.id, token);
  }

  /**
   * Unwraps a stored key. One made under another KEK is `kek_mismatch`; one that does not
   * authenticate (changed, truncated, stored under another id) is `unwrap_failed`.
   */
  unwrap(record: Pick<ClusterKey, 'id' | 'algorithm' | 'kekId' | 'wrapped' | 'wrappedUnder'>): Buffer {
    if (record.algorithm !== KEY_WRAP_ALGORITHM) {
      throw new KeyError('unwrap_failed', `the ${record.id} key in the store is wrapped with ${String(record.algorithm)}, which this manager does not know (expected ${KEY_WRAP_ALGORITHM})`);
    }
    if (record.wrappedUnder !== undefined) {
      throw new KeyError('unwrap_failed', `the ${record.id} record in the store is the key-encryption key wrapped under the manager join token, not a key wrapped under it`);
    }
    if (record.kekId !== this.id) throw mismatch(this, [record.kekId]);
    const plain = gcmOpen(this.#key, Buffer.from(record.wrapped, 'base64'), aad(record.id, record.kekId));
    if (!plain) throw new KeyError('unwrap_failed', `the ${record.id} key in the store does not unwrap under ${this.path}: the stored key was changed or damaged`);
    return plain;
  }

  /** Never print the key (util.inspect, JSON, template strings). */
  toJSON(): string {
    return `[KeyEncryptionKey ${this.id}]`;
  }

  toString(): string {
    return `[KeyEncryptionKey ${this.id}]`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `[KeyEncryptionKey ${this.id}]`;
  }
}

/** The one-line error for a KEK file that is not the one the store's keys were wrapped under. */
export function mismatch(kek: KeyEncryptionKey, wanted: readonly string[]): KeyError {
  return new KeyError(
    'kek_mismatch',
    `the key-encryption key ${kek.path} (key ${kek.id}) is not the one this cluster's keys are wrapped under (key ${[...new Set(wanted)].join(', ')}): restore the file this data dir was created with`,
  );
}

/** The fingerprint of a KEK's bytes (its `id`). */
export function kekId(key: Buffer): string {
  return createHash('sha256').update('flotilla key-encryption key id\0').update(key).digest('hex').slice(0, 16);
}

/** What a wrapped key is bound to: its id, the algorithm and the KEK. */
function aad(name: string, id: string): string {
  return `flotilla/clusterKey/${name}/${KEY_WRAP_ALGORITHM}/${id}`;
}
