import { createRequire } from 'node:module';
import type * as NodeSqlite from 'node:sqlite';

/** The `node:sqlite` module's exports. */
export type SqliteModule = typeof NodeSqlite;

let loaded: SqliteModule | undefined;

/**
 * Loads `node:sqlite` without letting it print its one-time `ExperimentalWarning` (some Node
 * 22–24 releases emit it on first load; a `process.on('warning')` listener cannot stop the
 * default printer). The module is required through `createRequire` inside a scope where
 * `process.emitWarning` drops exactly that warning; every other warning passes through.
 * Starting Node with `--disable-warning=ExperimentalWarning` has the same effect globally.
 */
export function loadSqlite(): SqliteModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const original = process.emitWarning;
  const filtered = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const first = rest[0];
    const type =
      typeof first === 'string'
        ? first
        : typeof first === 'object' && first !== null
          ? (first as { type?: unknown }).type
          : warning instanceof Error
            ? warning.name
            : undefined;
    const message = typeof warning === 'string' ? warning : warning.message;
    if (type === 'ExperimentalWarning' && /sqlite/i.test(message)) return;
    (original as (...args: unknown[]) => void).call(process, warning, ...rest);
  };
  process.emitWarning = filtered as typeof process.emitWarning;
  try {
    loaded = require('node:sqlite') as SqliteModule;
    return loaded;
  } finally {
    process.emitWarning = original;
  }
}
