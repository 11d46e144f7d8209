import type { JoinToken } from '../../api/join.ts';
import type { Store, Tx } from '../../store/store.ts';
import { KeyError } from './errors.ts';
import { kekFromJoinToken } from './join.ts';
import { KeyEncryptionKey, kekPath, mismatch } from './kek.ts';
import { MANAGER_TOKEN_KEK_NAME } from './token-wrap.ts';

/** How a data dir's keyring is opened. */
export interface KeyringOpenOptions {
  /**
   * The manager join token, for a data dir without `kek.key` on a store that holds a cluster:
   * it unwraps the cluster's KEK, which is then written to `kek.key`. Ignored when the file
   * exists (a restart with the same command line).
   */
  readonly joinToken?: string | undefined;
}

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
  /** Whether this open joined the cluster: `kek.key` was just written from the manager join token. */
  readonly joined: boolean;

  private constructor(store: Store, kek: KeyEncryptionKey, joined: boolean) {
    this.#store = store;
    this.#kek = kek;
    this.joined = joined;
  }

  /**
   * The keyring of a data dir: reads `<dataDir>/kek.key`, creating it when the store holds no
   * wrapped key yet, or — with `joinToken`, on a store that holds a cluster — writing the
   * cluster's KEK that the manager join token unwraps (checked first; nothing is written when
   * the token is refused). A store that holds wrapped keys with the file missing and no token
   * (`kek_missing`), or with the file holding another key (`kek_mismatch`), stops here with one
   * line naming the file.
   */
  static async open(dataDir: string, store: Store, options: KeyringOpenOptions = {}): Promise<Keyring> {
    const path = kekPath(dataDir);
    const wrapped = store.table('clusterKey').all();
    let kek = await KeyEncryptionKey.read(path);
    let joined = false;
    if (!kek) {
      if (options.joinToken !== undefined) {
        kek = await KeyEncryptionKey.create(path, kekFromJoinToken(store, options.joinToken));
        joined = true;
      } else if (wrapped.length > 0) {
        const ids = [...new Set(wrapped.map((k) => k.kekId))].join(', ');
        throw new KeyError(
          'kek_missing',
          `the key-encryption key ${path} is missing, but the store holds keys wrapped under it (key ${ids}): to add a manager to this cluster, start it with --join-token (\`flotilla token manager\` on a running manager prints it); else restore the file this data dir was created with (the store never holds it in plain text)`,
        );
      } else {
        kek = await KeyEncryptionKey.create(path);
      }
    }
    const foreign = wrapped.filter((k) => k.kekId !== kek.id);
    if (foreign.length > 0) throw mismatch(kek, foreign.map((k) => k.kekId));
    return new Keyring(store, kek, joined);
  }

  /** A keyring under a given KEK, with no file (tests, throwaway stores). */
  static withKek(store: Store, kek: KeyEncryptionKey): Keyring {
    return new Keyring(store, kek, false);
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

  /** Adds or replaces the key `name`, wrapped, in `tx` (secrets that rotate: the join tokens, the admin token). */
  set(tx: Tx, name: string, plaintext: Uint8Array): void {
    const table = tx.table('clusterKey');
    const current = table.get(name);
    const wrapped = this.#kek.wrap(name, plaintext);
    if (current) table.update({ id: name, version: current.version, createdAt: current.createdAt, updatedAt: current.updatedAt, ...wrapped });
    else table.create({ id: name, ...wrapped });
  }

  /**
   * Adds or replaces, in `tx`, the KEK wrapped under the manager join token (`kek-manager-token`):
   * a manager started with that token can unwrap it; the token it replaces no longer can.
   */
  shareWithManagerToken(tx: Tx, token: JoinToken): void {
    const table = tx.table('clusterKey');
    const current = table.get(MANAGER_TOKEN_KEK_NAME);
    const wrapped = this.#kek.wrapUnderToken(token);
    if (current) table.update({ ...current, ...wrapped });
    else table.create({ id: MANAGER_TOKEN_KEK_NAME, ...wrapped });
  }

  /** Never print the key-encryption key. */
  toJSON(): string {
    return `[Keyring ${this.#kek.id}]`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `[Keyring ${this.#kek.id}]`;
  }
}
