import type { Store, Tx } from '../../store/store.ts';
import { KeyError } from './errors.ts';
import { KeyEncryptionKey, kekPath, mismatch } from './kek.ts';

/**
 * The cluster's private keys as the store holds them (kind `clusterKey`, wrapped under the
 * key-encryption key of `<dataDir>/kek.key`). The CA and the secret sealing key read theirs with
 * `get` and store a new one with `put`, inside their own transaction. Not a component (no
 * loop): the composition root opens it after the store and hands it to the CA and the sealing
 * key. See README.md.
 */
export class Keyring {
  readonly #store: Store;
  readonly #kek: KeyEncryptionKey;

  private constructor(store: Store, kek: KeyEncryptionKey) {
    this.#store = store;
    this.#kek = kek;
  }

  /**
   * The keyring of a data dir: reads `<dataDir>/kek.key`, creating it when the store holds no
   * wrapped key yet. A store that holds wrapped keys with the file missing (`kek_missing`) or
   * holding another key (`kek_mismatch`) stops here with one line naming the file.
   */
  static async open(dataDir: string, store: Store): Promise<Keyring> {
    const path = kekPath(dataDir);
    const wrapped = store.table('clusterKey').all();
    let kek = await KeyEncryptionKey.read(path);
    if (!kek) {
      if (wrapped.length > 0) {
        const ids = [...new Set(wrapped.map((k) => k.kekId))].join(', ');
        throw new KeyError(
          'kek_missing',
          `the key-encryption key ${path} is missing, but the store holds keys wrapped under it (key ${ids}): restore the file this data dir was created with (it is never kept in the store)`,
        );
      }
      kek = await KeyEncryptionKey.create(path);
    }
    const foreign = wrapped.filter((k) => k.kekId !== kek.id);
    if (foreign.length > 0) throw mismatch(kek, foreign.map((k) => k.kekId));
    return new Keyring(store, kek);
  }

  /** A keyring under a given KEK, with no file (tests, throwaway stores). */
  static withKek(store: Store, kek: KeyEncryptionKey): Keyring {
    return new Keyring(store, kek);
  }

  /** Fingerprint of the key-encryption key in use. */
  get kekId(): string {
    return this.#kek.id;
  }

  /** The key `name` from the store, unwrapped; undefined when the store has none. Throws `KeyError`. */
  get(name: string): Buffer | undefined {
    const record = this.#store.table('clusterKey').get(name);
    return record ? this.#kek.unwrap(record) : undefined;
  }

  /**
   * Adds the key `name`, wrapped, to `tx`. Created, never replaced: when another manager stored
   * it first, the transaction fails `already_exists` and the caller reads theirs.
   */
  put(tx: Tx, name: string, plaintext: Uint8Array): void {
    tx.table('clusterKey').create({ id: name, ...this.#kek.wrap(name, plaintext) });
  }

  /** Never print the key-encryption key. */
  toJSON(): string {
    return `[Keyring ${this.#kek.id}]`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `[Keyring ${this.#kek.id}]`;
  }
}
