import { CodedError, errorGuard } from '../../lib/coded-error.ts';

/**
 * Errors of the orchestrator boundary. They never leave the component: the work queue logs
 * them and retries the service with backoff.
 */
export type OrchestratorErrorCode = 'apply_failed';

export class OrchestratorError extends CodedError<OrchestratorErrorCode> {
  override readonly name = 'OrchestratorError';
  readonly serviceId: string;

  constructor(code: OrchestratorErrorCode, serviceId: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.serviceId = serviceId;
  }
}

export const isOrchestratorError = errorGuard(OrchestratorError);
