import { DriverError, type DriverErrorCode } from '../driver.ts';

/** The HTTP status of a dockerode error, if it has one. */
export function statusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/**
 * A dockerode error as a `DriverError`, keeping the engine's own message ("No such image:
 * foo:latest") so it reaches the task's status as the engine said it. Connection errors
 * (no engine) become `unavailable` whatever `code` was asked for.
 */
export function dockerError(e: unknown, code: DriverErrorCode, doing?: string): DriverError {
  const err = e as { json?: { message?: unknown }; message?: unknown; code?: unknown };
  const engine = typeof err?.json?.message === 'string' ? err.json.message : undefined;
  const message = engine ?? (typeof err?.message === 'string' ? err.message : String(e));
  const sysCode = typeof err?.code === 'string' ? err.code : undefined;
  if (sysCode && ['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT'].includes(sysCode)) {
    return new DriverError('unavailable', `docker engine unreachable${doing ? ` (${doing})` : ''}: ${message}`, { cause: e });
  }
  // The engine's own words, unprefixed, for errors that become a task's `err`.
  return new DriverError(code, engine !== undefined || doing === undefined ? message : `${doing}: ${message}`, { cause: e });
}
