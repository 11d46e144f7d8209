import { request as httpRequest, type ClientRequest, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Clock } from '../../lib/clock.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';
import { isManagerServerCertificate, MANAGER_SERVER_CN } from '../../lib/tls-identity.ts';
import type { TlsCredentials } from './listeners.ts';

export type PeerRequestErrorCode = 'bad_address' | 'connect_timeout' | 'no_credentials';

/** A request to another manager that could not be opened. */
export class PeerRequestError extends CodedError<PeerRequestErrorCode> {
  override readonly name = 'PeerRequestError';
}
export const isPeerRequestError = errorGuard(PeerRequestError);

export interface PeerClientDeps {
  readonly clock: Clock;
  /**
   * This manager's peer client credentials (key, certificate, the cluster CA), read at each
   * request so a renewed certificate is used from then on. Absent: the managers speak plain
   * HTTP to each other (no cluster CA: tests and one-host setups).
   */
  readonly credentials?: () => TlsCredentials | undefined;
}

export interface PeerClientOptions {
  /** How long a connection (with its TLS handshake) may take before the request fails. Default 5 s. */
  readonly connectTimeoutMs?: number;
}

/**
 * Opens requests to other managers of the cluster at the address their member advertises:
 * `host:port` over HTTPS with this manager's peer certificate (the peer must present a server
 * certificate of the cluster CA, CN=flotilla-manager and OU=manager, valid for that host), or plain HTTP without
 * credentials; `unix:///path` over that socket. One connection per request (forwarded requests
 * are few and often long streams). A connection not made within `connectTimeoutMs` fails the
 * request (`error` event, `PeerRequestError('connect_timeout')`): a leader whose host is gone
 * must not hold a client until TCP gives up.
 */
export class PeerClient {
  readonly #deps: PeerClientDeps;
  readonly #connectTimeoutMs: number;

  constructor(deps: PeerClientDeps, options: PeerClientOptions = {}) {
    this.#deps = deps;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 5_000;
    if (!(this.#connectTimeoutMs > 0)) throw new RangeError(`connectTimeoutMs must be positive, got ${this.#connectTimeoutMs}`);
  }

  /** A request to the manager at `addr`; the caller writes the body and ends it. */
  request(addr: string, init: { readonly method: string; readonly path: string; readonly headers: OutgoingHttpHeaders }): ClientRequest {
    const base = { method: init.method, path: init.path, headers: init.headers, agent: false as const };
    let req: ClientRequest;
    let secure = false;
    if (addr.startsWith('unix://')) {
      req = httpRequest({ ...base, socketPath: addr.slice('unix://'.length) });
    } else {
      const { host, port } = parseHostPort(addr);
      const credentials = this.#deps.credentials;
      if (!credentials) {
        req = httpRequest({ ...base, host, port });
      } else {
        const c = credentials();
        if (!c) throw new PeerRequestError('no_credentials', 'this manager has no peer certificate yet');
        secure = true;
        req = httpsRequest({ ...base, host, port, key: c.key, cert: c.cert, ca: c.ca, minVersion: 'TLSv1.2', checkServerIdentity: managerIdentity });
      }
    }
    this.#armConnectTimeout(req, addr, secure);
    return req;
  }

  #armConnectTimeout(req: ClientRequest, addr: string, secure: boolean): void {
    const ms = this.#connectTimeoutMs;
    const timer = this.#deps.clock.setTimer(ms, () => req.destroy(new PeerRequestError('connect_timeout', `no connection to ${addr} within ${ms} ms`)));
    req.once('close', () => timer.cancel());
    req.once('socket', (s: Socket) => {
      // A socket reused or already connected has nothing left to wait for.
      if (!s.connecting && !secure) return timer.cancel();
      s.once(secure ? 'secureConnect' : 'connect', () => timer.cancel());
    });
  }
}

/**
 * Host name checks as TLS does them, and the certificate must be a manager's server
 * certificate (CN=flotilla-manager, OU=manager): a manager-role node's certificate has
 * OU=manager too (CN = its node id) and must not pass for the leader.
 */
function managerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const err = checkServerIdentity(host, cert);
  if (err) return err;
  if (!isManagerServerCertificate(cert)) {
    return new Error(`the certificate of ${host} is not a manager's server certificate (CN=${String(cert.subject.CN)}, OU=${String(cert.subject.OU)}; want CN=${MANAGER_SERVER_CN}, OU=manager)`);
  }
  return undefined;
}

/** `host:port` or `[v6]:port` → its parts; `PeerRequestError('bad_address')` otherwise. */
export function parseHostPort(addr: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:[\]]+):(\d+)$/.exec(addr);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new PeerRequestError('bad_address', `"${addr}" is not a manager address (HOST:PORT, [IPv6]:PORT or unix:///PATH)`);
  }
  return { host: m[1], port };
}
