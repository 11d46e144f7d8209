import { randomBytes } from 'node:crypto';
import type { Clock } from '../../lib/clock.ts';

/** One signed-in browser. `bearer` is the admin token it signed in with (HTTPS), absent in dev. */
export interface DashboardSession {
  readonly id: string;
  readonly bearer: string | undefined;
  lastSeen: number;
}

/** How long a session lives without a request, and how long a login link stays good. */
export const SESSION_IDLE_MS = 12 * 60 * 60 * 1000;
export const LOGIN_NONCE_TTL_MS = 24 * 60 * 60 * 1000;

/** 32 random bytes, base64url: a session id or a login nonce. */
function secret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The dashboard's sign-ins, in memory (a restart signs everyone out): one-time login nonces
 * (`flotilla dev` prints one as a link) and sessions (the id is the browser's HttpOnly cookie).
 * A session ends after {@link SESSION_IDLE_MS} without a request, or on `end`.
 */
export class DashboardSessions {
  readonly #clock: Clock;
  readonly #sessions = new Map<string, DashboardSession>();
  readonly #nonces = new Map<string, number>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A new one-time login nonce, good for {@link LOGIN_NONCE_TTL_MS} or until used. */
  issueNonce(): string {
    const n = secret();
    this.#nonces.set(n, this.#clock.now() + LOGIN_NONCE_TTL_MS);
    return n;
  }

  /** Spends a nonce: a new session when it was issued, unused and unexpired; else undefined. */
  redeemNonce(nonce: string): DashboardSession | undefined {
    const expires = this.#nonces.get(nonce);
    if (expires === undefined) return undefined;
    this.#nonces.delete(nonce);
    if (expires <= this.#clock.now()) return undefined;
    return this.open(undefined);
  }

  /** Opens a session (after the caller checked the credential). */
  open(bearer: string | undefined): DashboardSession {
    this.#sweep();
    const s: DashboardSession = { id: secret(), bearer, lastSeen: this.#clock.now() };
    this.#sessions.set(s.id, s);
    return s;
  }

  /** The live session with this id, its idle time reset; undefined when unknown or expired. */
  touch(id: string): DashboardSession | undefined {
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    const now = this.#clock.now();
    if (now - s.lastSeen > SESSION_IDLE_MS) {
      this.#sessions.delete(id);
      return undefined;
    }
    s.lastSeen = now;
    return s;
  }

  end(id: string): void {
    this.#sessions.delete(id);
  }

  /** Drops expired sessions and nonces (on each sign-in, so the maps stay small). */
  #sweep(): void {
    const now = this.#clock.now();
    for (const [id, s] of this.#sessions) if (now - s.lastSeen > SESSION_IDLE_MS) this.#sessions.delete(id);
    for (const [n, exp] of this.#nonces) if (exp <= now) this.#nonces.delete(n);
  }
}
