import { CodedError, errorGuard } from '../lib/coded-error.ts';

/**
 * Errors of the Store boundary. Components check them with `isStoreError` and switch on
 * `code`; the control API translates them to HTTP (conflict and already_exists → 409,
 * not_found → 404, closed → 503, invalid → 400). `fenced`: a write through a fenced view
 * (`Store.fenced`, the leader loops' store) made when this manager no longer holds the term
 * it was fenced on; nothing was written (the API's writes are never fenced).
 */
export type StoreErrorCode = 'conflict' | 'not_found' | 'already_exists' | 'closed' | 'invalid' | 'fenced';

export class StoreError extends CodedError<StoreErrorCode> {
  override readonly name = 'StoreError';
}

export const isStoreError = errorGuard(StoreError);
