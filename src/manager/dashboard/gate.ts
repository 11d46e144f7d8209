import type { IncomingMessage, ServerResponse } from 'node:http';
import { TLSSocket } from 'node:tls';
import { ApiError } from '../../api/errors.ts';
import type { Clock } from '../../lib/clock.ts';
import { DashboardSessions, SESSION_IDLE_MS } from './sessions.ts';

/** One file of the dashboard's bundle, served under `/ui/`. */
export interface DashboardAsset {
  readonly body: Uint8Array;
  readonly type: string;
}

/** The built dashboard: file name under `/ui/` (`index.html`, `app.js`, …) → content. */
export type DashboardAssets = ReadonlyMap<string, DashboardAsset>;

export interface DashboardDeps {
  readonly clock: Clock;
  /** The control API's request handler; the gate forwards `/ui/api/…` to it as `/…`. */
  readonly api: (req: IncomingMessage, res: ServerResponse) => void;
  /**
   * Checks the admin token (`flotilla server`): with it, the sign-in form takes the token and
   * each forwarded request carries it as its bearer. Without it (`flotilla dev`, whose plain
   * listener the API trusts) only one-time login links sign in.
   */
  readonly isAdminToken?: (token: string) => boolean;
}

/** The cookie holding the session id (HttpOnly, SameSite=Strict, Path=/ui). */
export const SESSION_COOKIE = 'flotilla_session';
/** The header every state-changing or API request of the dashboard carries (CSRF guard). */
export const DASHBOARD_HEADER = 'x-flotilla-dashboard';

const API_PREFIX = '/ui/api/';
const MAX_SIGN_IN_BODY = 8 * 1024;

/**
 * Every response: only this origin's scripts, styles and connections (nothing leaves the
 * machine), no framing, no referrer (a login link is never sent on).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * The web dashboard's front door (see README.md): serves the bundle under `/ui/`, signs
 * browsers in (a one-time nonce, or the admin token on HTTPS) with an HttpOnly, SameSite=Strict
 * session cookie, and forwards `/ui/api/…` to the control API for signed-in sessions only. A
 * forwarded request must carry {@link DASHBOARD_HEADER} and, if it has an `Origin`, this
 * host's: a page of another site can neither read nor forge one (no CORS is ever answered).
 */
export class DashboardGate {
  readonly #deps: DashboardDeps;
  readonly #assets: DashboardAssets;
  readonly #sessions: DashboardSessions;

  constructor(deps: DashboardDeps, assets: DashboardAssets) {
    this.#deps = deps;
    this.#assets = assets;
    this.#sessions = new DashboardSessions(deps.clock);
  }

  /** A one-time login nonce; the link is `<origin>/ui/login#<nonce>` (a fragment never reaches a server log). */
  issueLoginNonce(): string {
    return this.#sessions.issueNonce();
  }

  /** Serves `/` (a redirect) and everything under `/ui`; mount it at `/ui`, or at `/` on a listener of its own. */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    this.#route(req, res).catch((err: unknown) => {
      const e = err instanceof ApiError ? err : new ApiError('internal', 'the dashboard failed to answer', { cause: err });
      if (!res.headersSent) sendJson(res, e.status, e.toJSON());
      else res.destroy();
    });
  };

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith(API_PREFIX)) return this.#forward(req, res);
    if (path === '/ui/session') return this.#session(req, res);
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError('not_found', `no route ${req.method ?? ''} ${path}`);
    if (path === '/' || path === '/ui') return redirect(res, '/ui/');
    // Client-side routes (`/ui/`, `/ui/services/web`, `/ui/login`) all get the page.
    const name = path.slice('/ui/'.length);
    const asset = this.#assets.get(name) ?? (name.includes('.') ? undefined : this.#assets.get('index.html'));
    if (!asset) throw new ApiError('not_found', `no dashboard file ${path}`);
    const cache = asset.type.startsWith('text/html') ? 'no-store' : 'no-cache';
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'content-length': asset.body.byteLength, 'cache-control': cache });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  /** `GET`: am I signed in, and how does one sign in; `POST {nonce}|{token}`: sign in; `DELETE`: sign out. */
  async #session(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const signIn = this.#deps.isAdminToken ? 'token' : 'link';
    if (req.method === 'GET') {
      const s = this.#current(req);
      return sendJson(res, 200, { signedIn: s !== undefined, signIn });
    }
    checkSameOrigin(req);
    if (req.method === 'DELETE') {
      const id = cookie(req, SESSION_COOKIE);
      if (id !== undefined) this.#sessions.end(id);
      res.writeHead(204, { ...SECURITY_HEADERS, 'set-cookie': sessionCookie(req, '', 0) }).end();
      return;
    }
    if (req.method !== 'POST') throw new ApiError('not_found', `no route ${req.method ?? ''} /ui/session`);
    const body = await readJson(req);
    let session;
    if (typeof body['nonce'] === 'string') {
      session = this.#sessions.redeemNonce(body['nonce']);
      if (!session) throw new ApiError('unauthenticated', 'this login link was used already or has expired: restart `flotilla dev` for a new one');
    } else if (typeof body['token'] === 'string' && this.#deps.isAdminToken) {
      if (!this.#deps.isAdminToken(body['token'])) throw new ApiError('unauthenticated', 'not the admin token (it is in admin/token of the manager’s data dir)');
      session = this.#sessions.open(body['token']);
    } else {
      throw new ApiError('invalid_argument', signIn === 'token' ? 'sign in with {"token": "<admin token>"}' : 'sign in with the login link `flotilla dev` printed');
    }
    res.writeHead(204, { ...SECURITY_HEADERS, 'set-cookie': sessionCookie(req, session.id, SESSION_IDLE_MS / 1000) }).end();
  }

  /** `/ui/api/X` → the control API's `/X`, as the signed-in session; nothing else passes. */
  #forward(req: IncomingMessage, res: ServerResponse): void {
    checkSameOrigin(req);
    const session = this.#current(req);
    if (!session) throw new ApiError('unauthenticated', 'sign in to the dashboard first');
    req.url = (req.url ?? '').slice(API_PREFIX.length - 1);
    // The API sees the session's credential, never the browser's cookie.
    delete req.headers.cookie;
    delete req.headers.authorization;
    if (session.bearer !== undefined) req.headers.authorization = `Bearer ${session.bearer}`;
    this.#deps.api(req, res);
  }

  #current(req: IncomingMessage): ReturnType<DashboardSessions['touch']> {
    const id = cookie(req, SESSION_COOKIE);
    return id === undefined ? undefined : this.#sessions.touch(id);
  }
}

/**
 * The CSRF guard: the dashboard's own header (a cross-site page cannot add one without a CORS
 * preflight, which is never answered) and, when the browser sends an `Origin`, this host's.
 */
function checkSameOrigin(req: IncomingMessage): void {
  if (req.headers[DASHBOARD_HEADER] !== '1') throw new ApiError('permission_denied', `dashboard requests carry the ${DASHBOARD_HEADER} header`);
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const scheme = req.socket instanceof TLSSocket ? 'https' : 'http';
  if (origin !== `${scheme}://${req.headers.host ?? ''}`) throw new ApiError('permission_denied', `a request from ${origin} is not the dashboard's own`);
}

function sessionCookie(req: IncomingMessage, value: string, maxAgeSeconds: number): string {
  const secure = req.socket instanceof TLSSocket ? '; Secure' : '';
  return `${SESSION_COOKIE}=${value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`;
}

/** The value of cookie `name`, if the request has it. */
export function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_SIGN_IN_BODY) throw new ApiError('invalid_argument', 'the sign-in body is too large');
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new ApiError('invalid_argument', 'the sign-in body is not a JSON object');
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' }).end(text);
}

function redirect(res: ServerResponse, to: string): void {
  res.writeHead(302, { ...SECURITY_HEADERS, location: to }).end();
}
