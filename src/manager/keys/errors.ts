import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * Why the manager's keys could not be read: `kek_missing` (the store holds wrapped keys but the
 * key-encryption key file is gone), `kek_invalid` (the file is unreadable, of the wrong size or
 * readable by others), `kek_mismatch` (the file holds another key than the one the store's keys
 * are wrapped under), `unwrap_failed` (a wrapped key does not authenticate: changed or damaged),
 * `io` (the data dir could not be written).
 */
export type KeyErrorCode = 'kek_missing' | 'kek_invalid' | 'kek_mismatch' | 'unwrap_failed' | 'io';

/**
 * The keyring's one error type. Its message is one line naming the file and what to do; it
 * never carries key bytes.
 */
export class KeyError extends CodedError<KeyErrorCode> {
  override readonly name = 'KeyError';
}

export const isKeyError = errorGuard(KeyError);
