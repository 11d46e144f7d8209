import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { resolveDataDir, socketPath } from '../lib/paths.ts';
import { ClientError } from './errors.ts';
import { parseHost, type Target } from './target.ts';

/**
 * Contexts: named clusters the CLI can talk to, kept in `$FLOTILLA_HOME/contexts.json`
 * (mode 0600; it holds credentials). A context is the manager's HTTPS address, the cluster CA,
 * and the admin credential (client certificate and key, or a bearer token) — exactly the
 * `admin/context.json` a `flotilla server` writes. The name `default` is the local socket.
 */
export interface ClusterContext {
  /** `https://HOST:PORT` (or `http://`, `unix://` for local setups). */
  readonly host: string;
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly token?: string;
}

export interface ContextsFile {
  /** The selected context; absent means `default` (the local socket). */
  current?: string;
  contexts: Record<string, ClusterContext>;
}

/** The built-in context: the local manager's unix socket. */
export const DEFAULT_CONTEXT = 'default';

type Env = Readonly<Record<string, string | undefined>>;

/** Where contexts are kept: `$FLOTILLA_HOME/contexts.json`, else `~/.flotilla/contexts.json`. */
export function contextsPath(env: Env): string {
  return join(resolveDataDir({ env }), 'contexts.json');
}

/** The saved contexts (none when the file does not exist). A corrupt file is an error. */
export function loadContexts(env: Env): ContextsFile {
  const file = contextsPath(env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { contexts: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<ContextsFile>;
    if (typeof parsed !== 'object' || parsed === null || typeof parsed.contexts !== 'object' || parsed.contexts === null) throw new Error('no "contexts" object');
    return { ...(typeof parsed.current === 'string' ? { current: parsed.current } : {}), contexts: parsed.contexts };
  } catch (err) {
    throw new ClientError('invalid_argument', `${file} is not a valid contexts file: ${(err as Error).message}`);
  }
}

/** Saves the contexts file (0600, written then renamed). */
export function saveContexts(env: Env, contexts: ContextsFile): void {
  const file = contextsPath(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(contexts, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/**
 * Checks a context read from a file (`flotilla context import`): an address, and for https
 * the cluster CA plus a credential. Returns the one-line problem, or undefined when fine.
 */
export function contextProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'expected a JSON object with "host", "ca", and "cert"+"key" or "token"';
  const c = value as Record<string, unknown>;
  for (const k of ['host', 'ca', 'cert', 'key', 'token']) {
    if (c[k] !== undefined && typeof c[k] !== 'string') return `"${k}" must be a string`;
  }
  if (typeof c['host'] !== 'string' || c['host'] === '') return '"host" is missing (e.g. "https://192.168.1.10:4280")';
  try {
    parseHost(c['host']);
  } catch (err) {
    return (err as Error).message;
  }
  if (c['host'].startsWith('https:')) {
    if (typeof c['ca'] !== 'string' || !c['ca'].includes('BEGIN CERTIFICATE')) return '"ca" (the cluster CA certificate, PEM) is missing';
    if ((c['cert'] === undefined) !== (c['key'] === undefined)) return '"cert" and "key" go together';
    if (c['cert'] === undefined && c['token'] === undefined) return 'no credential: give "cert" and "key", or "token"';
  }
  return undefined;
}

/** The target a context names. */
export function contextTarget(c: ClusterContext): Target {
  const t = parseHost(c.host);
  if ('socketPath' in t) return t;
  const tls = c.ca === undefined ? undefined : { ca: c.ca, ...(c.cert !== undefined && c.key !== undefined ? { cert: c.cert, key: c.key } : {}) };
  return { url: t.url, ...(tls ? { tls } : {}), ...(c.token !== undefined ? { token: c.token } : {}) };
}

/** What selects the manager, in order of precedence. */
export interface TargetSources {
  /** `--host`. */
  readonly host?: string | undefined;
  /** `--context`. */
  readonly context?: string | undefined;
  readonly env: Env;
}

/**
 * The manager to talk to: `--host`, else `--context`, else `$FLOTILLA_HOST`, else
 * `$FLOTILLA_CONTEXT`, else the current context, else the local socket of the default data
 * dir. `--host` and `--context` together are refused; so is an unknown context name.
 */
export function resolveTarget(s: TargetSources): Target {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
  const host = nonEmpty(s.host);
  const flagContext = nonEmpty(s.context);
  if (host !== undefined && flagContext !== undefined) throw new ClientError('invalid_argument', 'give --host or --context, not both');
  if (host !== undefined) return parseHost(host);
  if (flagContext !== undefined) return named(flagContext, s.env, '--context');
  const envHost = nonEmpty(s.env['FLOTILLA_HOST']);
  if (envHost !== undefined) return parseHost(envHost);
  const envContext = nonEmpty(s.env['FLOTILLA_CONTEXT']);
  if (envContext !== undefined) return named(envContext, s.env, 'FLOTILLA_CONTEXT');
  const current = loadContexts(s.env).current;
  if (current !== undefined && current !== DEFAULT_CONTEXT) return named(current, s.env, 'the current context');
  return { socketPath: socketPath(resolveDataDir({ env: s.env })) };
}

function named(name: string, env: Env, from: string): Target {
  if (name === DEFAULT_CONTEXT) return { socketPath: socketPath(resolveDataDir({ env })) };
  const c = loadContexts(env).contexts[name];
  if (!c) throw new ClientError('invalid_argument', `no context named "${name}" (from ${from}): see \`flotilla context ls\``);
  return contextTarget(c);
}
