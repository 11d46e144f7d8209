import { CodedError, errorGuard } from '../lib/coded-error.ts';

/**
 * The catalogue of API errors: every error the REST API returns has one of these codes, the
 * HTTP status that goes with it, and a message that says what is wrong and where. On the
 * wire: `{ "error": { "code", "message", "details" } }`.
 */
export const API_ERRORS = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  /** The object changed since it was read (stale `version`). */
  conflict: 409,
  /** A name already taken by another object. */
  already_exists: 409,
  /** The request is valid but the object's state forbids it (e.g. removing a live node). */
  failed_precondition: 412,
  unavailable: 503,
  internal: 500,
} as const;
export type ApiErrorCode = keyof typeof API_ERRORS;

/** Where in the input a problem is: a field path (`taskTemplate.placement.constraints[0]`). */
export interface ErrorDetail {
  path: string;
  message: string;
}

export class ApiError extends CodedError<ApiErrorCode> {
  override readonly name = 'ApiError';
  readonly details: readonly ErrorDetail[];

  constructor(code: ApiErrorCode, message: string, options: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(code, message, options);
    this.details = options.details ?? [];
  }

  get status(): number {
    return API_ERRORS[this.code];
  }

  toJSON(): { error: { code: ApiErrorCode; message: string; details: readonly ErrorDetail[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

export const isApiError = errorGuard(ApiError);

/** Reads an error body as the API sends it; undefined when the body is not one. */
export function parseApiErrorBody(body: unknown): { code: ApiErrorCode; message: string; details: ErrorDetail[] } | undefined {
  if (typeof body !== 'object' || body === null || !('error' in body)) return undefined;
  const err = (body as { error: unknown }).error;
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, message, details } = err as Record<string, unknown>;
  if (typeof code !== 'string' || !(code in API_ERRORS) || typeof message !== 'string') return undefined;
  return { code: code as ApiErrorCode, message, details: Array.isArray(details) ? (details as ErrorDetail[]) : [] };
}
