import type { JoinToken } from '../api/join.ts';
import type { Tx } from './tx.ts';

/**
 * Private keys and secrets kept in the store, wrapped (the manager's keyring implements it;
 * components that keep a key — the cluster CA, the secrets sealing key — take it from the
 * composition root and never import the keyring): read one unwrapped, or add one inside a
 * transaction.
 */
export interface KeyVault {
  /** The key `name`, unwrapped; undefined when the store has none. */
  get(name: string): Buffer | undefined;
  /** Adds the key `name`, wrapped, to `tx` (fails `already_exists` when it is there). */
  put(tx: Tx, name: string, plaintext: Uint8Array): void;
  /** Adds or replaces the key `name`, wrapped, in `tx` (secrets that rotate). */
  set(tx: Tx, name: string, plaintext: Uint8Array): void;
  /**
   * Adds or replaces, in `tx`, the key-encryption key wrapped under the manager join token
   * `token`, so a manager that presents it can join; the token it replaces no longer opens it.
   */
  shareWithManagerToken(tx: Tx, token: JoinToken): void;
}
