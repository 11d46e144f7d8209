import { pino, type Logger as PinoLogger } from 'pino';

/** Structured logger (pino). Components take one in `deps` and make children per component. */
export type Logger = PinoLogger;

export interface LoggerOptions {
  /** `trace` … `fatal`, or `silent`. Default: `FLOTILLA_LOG_LEVEL`, else `info`. */
  level?: string;
  /** Where JSON lines go. Default: standard error. */
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env['FLOTILLA_LOG_LEVEL'] ?? 'info';
  return pino({ level, base: null }, (options.destination ?? process.stderr) as pino.DestinationStream);
}

/** A logger that writes nothing, for tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
