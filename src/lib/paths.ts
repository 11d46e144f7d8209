import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where a node keeps its state, and the files inside it. One directory holds everything a
 * `flotilla dev` node needs to restart where it left off: the store, the node's identity,
 * the exec driver's logs, and the API socket every other command finds with no flags.
 */

/** Inputs to data-dir resolution; `env` and `home` are injectable for tests. */
export interface DataDirSources {
  /** `--data-dir`, when given. */
  readonly flag?: string | undefined;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly home?: string;
}

/** `--data-dir`, else `$FLOTILLA_HOME`, else `~/.flotilla`; always an absolute path. */
export function resolveDataDir(sources: DataDirSources = {}): string {
  const env = sources.env ?? process.env;
  const fromEnv = env['FLOTILLA_HOME'];
  if (sources.flag !== undefined && sources.flag !== '') return resolve(sources.flag);
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(sources.home ?? homedir(), '.flotilla');
}

/** The API's unix socket in a data dir (mode 0600). */
export function socketPath(dataDir: string): string {
  return join(dataDir, 'flotilla.sock');
}

/** The embedded store's sqlite file. */
export function statePath(dataDir: string): string {
  return join(dataDir, 'state.db');
}

/** Where the agent of a node keeps its own files (node id, exec logs). */
export function agentDir(dataDir: string): string {
  return join(dataDir, 'agent');
}
