/**
 * Errors of the orchestrator boundary. They never leave the component: the work queue logs
 * them and retries the service with backoff.
 */
export type OrchestratorErrorCode = 'apply_failed';

export class OrchestratorError extends Error {
  override readonly name = 'OrchestratorError';
  readonly code: OrchestratorErrorCode;
  readonly serviceId: string;

  constructor(code: OrchestratorErrorCode, serviceId: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.serviceId = serviceId;
  }
}

export function isOrchestratorError(e: unknown): e is OrchestratorError {
  return e instanceof OrchestratorError;
}
