import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * Why the manager's keys could not be read: `kek_missing` (the store holds wrapped keys but the
 * key-encryption key file is gone, and no join token was given), `kek_invalid` (the file is
 * unreadable, of the wrong size or readable by others), `kek_mismatch` (the file holds another
 * key than the one the store's keys are wrapped under), `unwrap_failed` (a wrapped key does not
 * authenticate: changed or damaged), `io` (the data dir could not be written).
 *
 * Joining with a manager join token (nothing is written when it fails): `join_token_invalid`
 * (malformed, mistyped, or rotated since), `join_token_worker` (the worker token: it cannot
 * make a manager), `join_token_other_cluster` (its CA digest is not the store's cluster CA),
 * `nothing_to_join` (the store holds no cluster, or one whose first manager has not yet stored
 * the KEK for the manager token).
 */
export type KeyErrorCode =
  | 'kek_missing'
  | 'kek_invalid'
  | 'kek_mismatch'
  | 'unwrap_failed'
  | 'io'
  | 'join_token_invalid'
  | 'join_token_worker'
  | 'join_token_other_cluster'
  | 'nothing_to_join';

/**
 * The keyring's one error type. Its message is one line naming the file (or the token) and what
 * to do; it never carries key bytes or a token.
 */
export class KeyError extends CodedError<KeyErrorCode> {
  override readonly name = 'KeyError';
}

export const isKeyError = errorGuard(KeyError);
