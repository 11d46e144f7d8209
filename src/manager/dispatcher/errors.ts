/** Why a dispatcher request (today: `taskLogs`) failed. */
export type DispatcherErrorCode = 'not_found' | 'unavailable' | 'closed' | 'agent_error';

/** The dispatcher's one error type; the control API maps `code` to an API error. */
export class DispatcherError extends Error {
  override readonly name = 'DispatcherError';
  readonly code: DispatcherErrorCode;
  constructor(code: DispatcherErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isDispatcherError(e: unknown): e is DispatcherError {
  return e instanceof DispatcherError;
}
