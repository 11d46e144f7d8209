import { randomBytes } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readKeyFile } from '../../lib/key-file.ts';
import { isStoreError, type Store } from '../../store/store.ts';
import { SecretsError } from './errors.ts';
import { KEY_BYTES, open, seal, type Opener, type Sealer } from './seal.ts';
import type { KeyVault } from '../../store/key-vault.ts';

/**
 * Where older versions kept the key: `<dataDir>/secrets.key`, 32 bytes, mode 0600. Read once
 * to move the key into the store, then removed.
 */
export function keyPath(dataDir: string): string {
  return join(dataDir, 'secrets.key');
}

/** The sealing key's id among the store's wrapped keys (`clusterKey`). */
export const SEALING_KEY_NAME = 'secrets';


export interface SealingKeyDeps {
  readonly store: Store;
  readonly keys: KeyVault;
}

/**
 * The cluster's secret sealing key. `open` reads it from the store, where it is wrapped under
 * the manager's key-encryption key, creating it (32 random bytes) on first start. The key
 * bytes never leave this object: it seals and opens, nothing else.
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

  /**
   * The sealing key of the cluster: the store's (kind `clusterKey`, id `secrets`, wrapped by
   * `keys`), created on first start. A data dir of an older version keeps its key in
   * `<dataDir>/secrets.key`: that key moves into the store and the file is removed, so secrets
   * sealed before still open.
   */
  static async open(deps: SealingKeyDeps, dataDir: string): Promise<SealingKey> {
    const { store, keys } = deps;
    const path = keyPath(dataDir);
    const legacy = await readOldKeyFile(path);
    let bytes = keys.get(SEALING_KEY_NAME);
    if (bytes === undefined) {
      const candidate = legacy ?? randomBytes(KEY_BYTES);
      try {
        await store.update((tx) => keys.put(tx, SEALING_KEY_NAME, candidate));
        bytes = candidate;
      } catch (err) {
        // Another manager sharing the store stored one first: use theirs.
        if (!(isStoreError(err) && err.code === 'already_exists')) throw err;
        bytes = keys.get(SEALING_KEY_NAME);
        if (bytes === undefined) throw err;
      }
    }
    if (bytes.length !== KEY_BYTES) {
      throw new SecretsError('invalid_key', `the secret sealing key in the store is ${bytes.length} bytes, expected ${KEY_BYTES}: it is damaged`);
    }
    if (legacy) {
      if (!legacy.equals(bytes)) {
        throw new SecretsError('invalid_key', `${path} holds another key than the cluster's secret sealing key in the store: move the file away (secrets sealed under it would not open)`);
      }
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw new SecretsError('io', `cannot remove ${path} after moving its key into the store: ${err.message}`, { cause: err });
      });
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

/**
 * An older version's key file, checked as it always was; undefined when there is none. A file
 * of the wrong size or readable by group/others stops the start (`invalid_key`).
 */
function readOldKeyFile(path: string): Promise<Buffer | undefined> {
  return readKeyFile(path, {
    what: 'the secret sealing key',
    bytes: KEY_BYTES,
    error: (message, cause) => new SecretsError('invalid_key', message, cause === undefined ? {} : { cause }),
  });
}
