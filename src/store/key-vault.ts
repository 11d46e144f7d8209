import type { Tx } from './tx.ts';

/**
 * Private keys kept in the store, wrapped (the manager's keyring implements it; components that
 * keep a key — the cluster CA, the secrets sealing key — take it from the composition root and
 * never import the keyring): read one unwrapped, or add one inside a transaction.
 */
export interface KeyVault {
  /** The key `name`, unwrapped; undefined when the store has none. */
  get(name: string): Buffer | undefined;
  /** Adds the key `name`, wrapped, to `tx` (fails `already_exists` when it is there). */
  put(tx: Tx, name: string, plaintext: Uint8Array): void;
}
