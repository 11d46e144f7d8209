import { ErrorBody } from '../../api/error-body.ts';
import { API_ERRORS, ApiError, isApiError, type ApiErrorCode } from '../../api/errors.ts';
import { isBackendError } from '../../store/backend.ts';
import { isStoreError, type StoreErrorCode } from '../../store/errors.ts';

/** Messages a route gives for store errors, in its own words ("service name web is already taken"). */
export type StoreErrorMessages = Partial<Record<StoreErrorCode, string>>;

const STORE_TO_API: Record<StoreErrorCode, ApiErrorCode> = {
  conflict: 'conflict',
  not_found: 'not_found',
  already_exists: 'already_exists',
  closed: 'unavailable',
  invalid: 'invalid_argument',
  fenced: 'unavailable',
};

const STORE_DEFAULT_MESSAGES: Record<StoreErrorCode, string> = {
  conflict: 'the object changed while this request was being applied: read it again and retry',
  not_found: 'the object no longer exists',
  already_exists: 'an object with this id or name already exists',
  closed: 'the manager is shutting down',
  invalid: 'the object is not valid',
  fenced: 'this manager no longer leads',
};

/**
 * The one place errors become API errors: an `ApiError` passes through, a `StoreError` is
 * translated to its API code (with the route's message when it gave one), a backend that cannot
 * be reached is `unavailable` (503) and a write too large for it `invalid_argument`, a Fastify request
 * error (bad JSON, wrong content type, body too large) becomes `invalid_argument`, and
 * anything else is `internal`.
 */
export function toApiError(err: unknown, messages: StoreErrorMessages = {}): ApiError {
  if (isApiError(err)) return err;
  if (isStoreError(err)) {
    const code = err.code;
    return new ApiError(STORE_TO_API[code], messages[code] ?? `${STORE_DEFAULT_MESSAGES[code]} (${err.message})`, {
      cause: err,
    });
  }
  if (isBackendError(err)) {
    // "store unavailable: etcd at … did not answer": a 503 the client may retry.
    if (err.code === 'unavailable' || err.code === 'closed') return new ApiError('unavailable', err.message, { cause: err });
    if (err.code === 'too_large') return new ApiError('invalid_argument', err.message, { cause: err });
  }
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const code: ApiErrorCode = status === 404 ? 'not_found' : 'invalid_argument';
    return new ApiError(code, (err as Error).message, { cause: err });
  }
  return new ApiError('internal', `internal error: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** How many times a route's write runs when it keeps losing races with other writers. */
export const WRITE_ATTEMPTS = 5;

/**
 * Runs a store write, translating its errors with the route's own messages. A write that lost
 * a race (a store `conflict`: another writer — a control loop recording a rollout's progress
 * on the service, the dispatcher — committed between this write's reads and its commit, so
 * nothing was written) runs again, up to `WRITE_ATTEMPTS` times: every route's write reads
 * what it changes inside its transaction, so running it again applies the request to the
 * current state. A version the request named that is stale is an `ApiError` `conflict`, never
 * retried. Without this a `stack rm` or a `service scale` during a rollout failed with 409
 * "changed while it was being …" although the user raced nobody.
 */
export async function translateStoreErrors<T>(write: () => Promise<T>, messages: StoreErrorMessages): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (isStoreError(err) && err.code === 'conflict' && attempt < WRITE_ATTEMPTS) continue;
      throw toApiError(err, messages);
    }
  }
}

/** The error responses a route documents, by status. */
export function errorResponses(...codes: ApiErrorCode[]): Record<number, typeof ErrorBody> {
  const out: Record<number, typeof ErrorBody> = {};
  for (const c of codes) out[API_ERRORS[c]] = ErrorBody;
  return out;
}
