import type { Store } from '../store/store.ts';
import { Keyring } from '../manager/keys/keyring.ts';

export type { Keyring };

/**
 * The manager's keyring on `store`, with its key-encryption key in `dataDir`, as the
 * composition root opens it: for tests of the components that keep keys in the store (the
 * cluster CA, the secrets sealing key), which may not import the keys component themselves.
 */
export function openKeyring(dataDir: string, store: Store): Promise<Keyring> {
  return Keyring.open(dataDir, store);
}
