import type { ApiErrorCode, ErrorDetail } from '../api/errors.ts';
import { CodedError, errorGuard } from '../lib/coded-error.ts';

/**
 * `unreachable`: nothing answers at the address (the manager is not running);
 * `protocol`: something answered, but not with the Flotilla API.
 */
export type ClientErrorCode = ApiErrorCode | 'unreachable' | 'protocol';

/** Every failure of a `FlotillaClient` call: the API's error code and message, or why it got none. */
export class ClientError extends CodedError<ClientErrorCode> {
  override readonly name = 'ClientError';
  /** HTTP status, when a response came back. */
  readonly status: number | undefined;
  readonly details: readonly ErrorDetail[];
  /**
   * For `unreachable`: whether the connection had opened before it failed (so the request may
   * have reached the manager). Unknown (undefined) for transports that cannot tell.
   */
  readonly connected: boolean | undefined;

  constructor(code: ClientErrorCode, message: string, options: { status?: number; details?: ErrorDetail[]; cause?: unknown; connected?: boolean } = {}) {
    super(code, message, options);
    this.status = options.status;
    this.details = options.details ?? [];
    this.connected = options.connected;
  }
}

export const isClientError = errorGuard(ClientError);

/**
 * Codes of failures to connect, where nothing of a request reached the manager: another
 * manager may be tried with it (a reset after sending could have been a half-done write, and
 * an HTTP error answer is the cluster's answer; neither is retried elsewhere).
 */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);

/** Whether `err` is an `unreachable` error of a connection that never opened (see `CONNECT_FAILURES`). */
export function isConnectFailure(err: unknown): boolean {
  // A connection that opened then failed (ETIMEDOUT can come after a request was sent) is not.
  if (isClientError(err) && err.connected === true) return false;
  const code = unreachableCode(err);
  return code !== undefined && CONNECT_FAILURES.has(code);
}

/**
 * Whether a request that failed with `err` may be sent to another manager: one that never
 * connected, or a read (`GET`, `HEAD`) whose connection was reset before an answer (a manager
 * stopping): reading again elsewhere changes nothing. A write is never sent twice.
 */
export function mayTryElsewhere(err: unknown, method: string): boolean {
  if (isConnectFailure(err)) return true;
  return (method === 'GET' || method === 'HEAD') && unreachableCode(err) === 'ECONNRESET';
}

/** The socket error code of an `unreachable` error. */
function unreachableCode(err: unknown): string | undefined {
  if (!isClientError(err) || err.code !== 'unreachable') return undefined;
  // The Node transport's cause is the socket error; fetch's a TypeError whose cause is.
  const cause = err.cause as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : cause?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}
