import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ManagerEntry } from '../api/managers.ts';
import { resolveDataDir, socketPath } from '../lib/paths.ts';
import { ClientError } from './errors.ts';
import { parseHost, type Target } from './target.ts';

/**
 * Contexts: named clusters the CLI can talk to, kept in `$FLOTILLA_HOME/contexts.json`
 * (mode 0600; it holds credentials). A context is the manager's HTTPS address, the cluster CA,
 * and the admin credential (client certificate and key, or a bearer token) — exactly the
 * `admin/context.json` a `flotilla server` writes. The name `default` is the local socket.
 * With several managers it also keeps every manager's address (`hosts`, learnt from
 * `GET /v1/managers`), and the client fails over between them.
 */
export interface ClusterContext {
  /** `https://HOST:PORT` (or `http://`, `unix://` for local setups): the manager tried first (the last that answered). */
  readonly host: string;
  /**
   * Every manager's base URL, `host` among them: the others are tried in this order when
   * `host` cannot be reached. Absent in files written before several managers (then `host` alone).
   */
  readonly hosts?: readonly string[];
  /** When `hosts` was last refreshed from `GET /v1/managers` (ISO time); absent: never. */
  readonly managersCheckedAt?: string;
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
  for (const k of ['host', 'ca', 'cert', 'key', 'token', 'managersCheckedAt']) {
    if (c[k] !== undefined && typeof c[k] !== 'string') return `"${k}" must be a string`;
  }
  if (c['hosts'] !== undefined) {
    if (!Array.isArray(c['hosts']) || !c['hosts'].every((h) => typeof h === 'string')) return '"hosts" must be a list of addresses ("https://HOST:PORT")';
    for (const h of c['hosts'] as string[]) {
      if (!/^https?:\/\//.test(h)) return `"hosts" entry "${h}" is not an http(s):// address`;
    }
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

/** The target a context names: `host` first, the other `hosts` as alternates. */
export function contextTarget(c: ClusterContext): Target {
  const t = parseHost(c.host);
  if ('socketPath' in t) return t;
  const tls = c.ca === undefined ? undefined : { ca: c.ca, ...(c.cert !== undefined && c.key !== undefined ? { cert: c.cert, key: c.key } : {}) };
  const alternates = (c.hosts ?? []).map((h) => h.replace(/\/+$/, '')).filter((h) => h !== t.url);
  return { url: t.url, ...(tls ? { tls } : {}), ...(c.token !== undefined ? { token: c.token } : {}), ...(alternates.length > 0 ? { alternates: [...new Set(alternates)] } : {}) };
}

/** Every manager address of a context, `host` first. */
export function contextHosts(c: ClusterContext): string[] {
  return [...new Set([c.host, ...(c.hosts ?? [])])];
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
  return resolveTargetContext(s).target;
}

/** `resolveTarget`, and the name of the saved context it came from (none for `--host`, `$FLOTILLA_HOST`, `default`). */
export function resolveTargetContext(s: TargetSources): { target: Target; context?: string } {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);
  const host = nonEmpty(s.host);
  const flagContext = nonEmpty(s.context);
  if (host !== undefined && flagContext !== undefined) throw new ClientError('invalid_argument', 'give --host or --context, not both');
  if (host !== undefined) return { target: parseHost(host) };
  if (flagContext !== undefined) return named(flagContext, s.env, '--context');
  const envHost = nonEmpty(s.env['FLOTILLA_HOST']);
  if (envHost !== undefined) return { target: parseHost(envHost) };
  const envContext = nonEmpty(s.env['FLOTILLA_CONTEXT']);
  if (envContext !== undefined) return named(envContext, s.env, 'FLOTILLA_CONTEXT');
  const current = loadContexts(s.env).current;
  if (current !== undefined && current !== DEFAULT_CONTEXT) return named(current, s.env, 'the current context');
  return { target: { socketPath: socketPath(resolveDataDir({ env: s.env })) } };
}

function named(name: string, env: Env, from: string): { target: Target; context?: string } {
  if (name === DEFAULT_CONTEXT) return { target: { socketPath: socketPath(resolveDataDir({ env })) } };
  const c = loadContexts(env).contexts[name];
  if (!c) throw new ClientError('invalid_argument', `no context named "${name}" (from ${from}): see \`flotilla context ls\``);
  return { target: contextTarget(c), context: name };
}

// ---- the manager list of a context ----

/** A context's manager list is refreshed from `GET /v1/managers` at most this often (and after a failover). */
export const MANAGERS_REFRESH_MS = 10 * 60_000;

/** Most addresses a context keeps: current managers first, then those known before. */
export const MAX_CONTEXT_HOSTS = 16;

/** Whether a context's manager list is due for a refresh (an https context not checked within `MANAGERS_REFRESH_MS`). */
export function managersDue(c: ClusterContext, now: number): boolean {
  if (!c.host.startsWith('https:')) return false;
  const at = c.managersCheckedAt === undefined ? Number.NaN : Date.parse(c.managersCheckedAt);
  return !(now - at < MANAGERS_REFRESH_MS);
}

/**
 * The context after a command: `host` is the manager that answered (`active`), and, when a
 * manager list was read (`members`, checked at `now`), `hosts` holds every manager
 * (`https://ADDR`), the current ones first and those known before after them (a stopped
 * manager is not a member but may come back), up to `MAX_CONTEXT_HOSTS`.
 */
export function withManagers(c: ClusterContext, active: string | undefined, members: readonly ManagerEntry[] | undefined, now: number | undefined): ClusterContext {
  const host = active ?? c.host;
  const fromMembers = (members ?? []).map((m) => `https://${m.addr}`);
  const hosts = [...new Set([host, ...fromMembers, ...contextHosts(c)])].slice(0, MAX_CONTEXT_HOSTS);
  const { hosts: _old, managersCheckedAt: _at, ...rest } = c;
  const checked = now === undefined ? c.managersCheckedAt : new Date(now).toISOString();
  return { ...rest, host, ...(hosts.length > 1 ? { hosts } : {}), ...(checked === undefined ? {} : { managersCheckedAt: checked }) };
}

/** Rewrites one saved context (read again first, so other contexts stay as they are now); a context removed meanwhile stays removed. */
export function updateContext(env: Env, name: string, update: (c: ClusterContext) => ClusterContext): void {
  const file = loadContexts(env);
  const c = file.contexts[name];
  if (!c) return;
  const next = update(c);
  if (JSON.stringify(next) === JSON.stringify(c)) return;
  saveContexts(env, { ...file, contexts: { ...file.contexts, [name]: next } });
}
