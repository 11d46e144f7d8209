import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * Why a sealing operation failed: `invalid_key` (the key file is missing, unreadable or not 32
 * bytes), `tampered` (sealed data that does not authenticate under the key: changed, truncated,
 * sealed for another object or under another key), `io` (the data dir could not be written).
 */
export type SecretsErrorCode = 'invalid_key' | 'tampered' | 'io';

/** The sealing module's one error type. Never carries plaintext or key bytes in its message. */
export class SecretsError extends CodedError<SecretsErrorCode> {
  override readonly name = 'SecretsError';
}

export const isSecretsError = errorGuard(SecretsError);
