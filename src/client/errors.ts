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

  constructor(code: ClientErrorCode, message: string, options: { status?: number; details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = options.status;
    this.details = options.details ?? [];
  }
}

export const isClientError = errorGuard(ClientError);
