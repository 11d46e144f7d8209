import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * Why a CA operation failed: `invalid_ca` (the CA files are unreadable, or key and certificate
 * do not match), `invalid_csr` (a certificate request that is not PEM PKCS#10, not ECDSA P-256,
 * or not signed by its own key), `io` (the data dir could not be read or written).
 */
export type CaErrorCode = 'invalid_ca' | 'invalid_csr' | 'io';

/** The CA's one error type. Request handlers (`join`, `renew`) turn it into an `ApiError`. */
export class CaError extends CodedError<CaErrorCode> {
  override readonly name = 'CaError';
}

export const isCaError = errorGuard(CaError);
