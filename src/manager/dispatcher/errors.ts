import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/** Why a dispatcher request (today: `taskLogs`) failed. */
export type DispatcherErrorCode = 'not_found' | 'unavailable' | 'closed' | 'agent_error';

/** The dispatcher's one error type; the control API maps `code` to an API error. */
export class DispatcherError extends CodedError<DispatcherErrorCode> {
  override readonly name = 'DispatcherError';
}

export const isDispatcherError = errorGuard(DispatcherError);
