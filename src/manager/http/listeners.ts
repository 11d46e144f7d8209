import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ApiError } from '../../api/errors.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import { Mounts, pathOf, type RequestHandler, type UpgradeHandler } from './mounts.ts';
import { removeStaleSocket, restrictSocket } from './unix-socket.ts';

/**
 * Where the manager listens: a unix socket (mode 0600, fully trusted), or a TCP address — plain
 * HTTP, or with `tls: true` HTTPS that asks for (does not require) a client certificate.
 */
export type ListenAddress = { readonly path: string } | { readonly host: string; readonly port: number; readonly tls?: boolean };

/** The HTTPS listeners' key and certificate, and the CA that client certificates come from (PEM). */
export interface TlsCredentials {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

export interface HttpListenersDeps {
  readonly logger: Logger;
}

/** Public options of `HttpListeners`. */
export interface HttpListenersOptions {
  /** Addresses to serve on, in order (`addresses` keeps it). */
  listen: readonly ListenAddress[];
  /** Needed when an address has `tls: true`; replaced later with `setTlsCredentials`. */
  tls?: TlsCredentials;
}

/**
 * The manager's listeners: one HTTP(S) server per listen address, all serving what is mounted
 * on them — request handlers by path prefix (the control API at `/`), upgrade handlers by path
 * (agent sessions at `/v1/agent/session`). Owns the unix socket file, the HTTPS credentials
 * (replaced on certificate rotation) and every open connection. See README.md.
 */
export class HttpListeners {
  readonly #deps: HttpListenersDeps;
  readonly #listen: readonly ListenAddress[];
  readonly #mounts = new Mounts();
  readonly #sockets = new Set<Socket>();
  readonly #servers: Server[] = [];
  /** The HTTPS servers among `#servers`, whose credentials `setTlsCredentials` replaces. */
  readonly #tlsServers = new Set<Server>();
  #tls: TlsCredentials | undefined;
  readonly #lifecycle = new Lifecycle('HTTP listeners', {
    startError: (state) => new Error(`HTTP listeners cannot start: they are ${state}`),
  });

  constructor(deps: HttpListenersDeps, options: HttpListenersOptions) {
    this.#deps = deps;
    this.#listen = options.listen;
    this.#tls = options.tls;
    if (options.listen.some((a) => 'port' in a && a.tls === true) && !options.tls) {
      throw new RangeError('a TLS listen address needs the tls option (key, certificate and CA)');
    }
  }

  /**
   * Serves requests whose path is `prefix` or under it with `handler`; the longest matching
   * prefix wins, `/` takes the rest. A request nothing matches is a 404.
   */
  mount(prefix: string, handler: RequestHandler): void {
    this.#mounts.addRequest(prefix, handler);
  }

  /**
   * Hands upgrade requests (WebSocket) of exactly `path` to `handler`, on every listener. The
   * handler tells a TLS listener's socket by `req.socket` (a `TLSSocket`). An upgrade nothing
   * is mounted for is answered 404 and closed.
   */
  mountUpgrade(path: string, handler: UpgradeHandler): void {
    this.#mounts.addUpgrade(path, handler);
  }

  /** Where each server listens, once started: `unix:///path`, `http://host:port`, `https://host:port`. */
  get addresses(): string[] {
    return this.#servers.map((s) => {
      const a = s.address();
      if (typeof a === 'string') return `unix://${a}`;
      if (a === null) return '';
      return `${this.#tlsServers.has(s) ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    });
  }

  /** Listens on every address (a stale unix socket file is replaced; one that answers is refused). */
  async start(): Promise<void> {
    const started = await this.#lifecycle.startWith(async () => {
      try {
        for (const addr of this.#listen) {
          const server = this.#serverFor(addr);
          await listen(server, addr);
          this.#servers.push(server);
        }
      } catch (err) {
        await this.#closeServers();
        throw err;
      }
    });
    // Stopped while listening: the stop closes every server once the start settled.
    if (!started) return;
    this.#deps.logger.info({ addresses: this.addresses }, 'manager listening');
  }

  /** Closes every server and cuts the connections still open (streams, agent sessions). Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(() => this.#closeServers());
  }

  /**
   * Replaces the HTTPS listeners' key, certificate and CA (a renewed server certificate); new
   * connections use them, open ones keep theirs.
   */
  setTlsCredentials(credentials: TlsCredentials): void {
    this.#tls = credentials;
    for (const s of this.#tlsServers) (s as unknown as HttpsServer).setSecureContext(tlsServerOptions(credentials));
  }

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const handler = this.#mounts.request(req.url);
    if (handler) return handler(req, res);
    const body = JSON.stringify(new ApiError('not_found', `no route ${req.method ?? ''} ${pathOf(req.url)}`).toJSON());
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
  };

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const handler = this.#mounts.upgrade(req.url);
    if (handler) return handler(req, socket, head);
    const body = JSON.stringify(new ApiError('not_found', `no upgrade endpoint at ${pathOf(req.url)}`).toJSON());
    socket.end(`HTTP/1.1 404 ${STATUS_CODES[404]}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  };

  /** An HTTP server for a plain address, an HTTPS one (client certificates requested) for a TLS one. */
  #serverFor(addr: ListenAddress): Server {
    const tls = 'port' in addr && addr.tls === true ? this.#tls : undefined;
    const server = tls ? (createHttpsServer(tlsServerOptions(tls), this.#onRequest) as unknown as Server) : createServer(this.#onRequest);
    if (tls) this.#tlsServers.add(server);
    server.on('upgrade', this.#onUpgrade);
    // TLS sockets are tracked through the raw TCP connection they wrap.
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    return server;
  }

  async #closeServers(): Promise<void> {
    const closing = this.#servers.filter((s) => s.listening).map((s) => new Promise<void>((r) => s.close(() => r())));
    // Upgraded connections (agent sessions) and streams are not idle: cut them so close returns.
    for (const s of this.#servers) s.closeIdleConnections();
    for (const sock of this.#sockets) sock.destroy();
    await Promise.all(closing);
  }
}

/**
 * Client certificates are asked for but not required at the TLS layer: `GET /v1/ca` and
 * `POST /v1/join` must work without one, so each route decides (the control API's `auth.ts`,
 * the agent sessions' `authenticate`).
 */
function tlsServerOptions(c: TlsCredentials): { key: string; cert: string; ca: string; requestCert: true; rejectUnauthorized: false; minVersion: 'TLSv1.2' } {
  return { key: c.key, cert: c.cert, ca: c.ca, requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' };
}

async function listen(server: Server, addr: ListenAddress): Promise<void> {
  if ('path' in addr) await removeStaleSocket(addr.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if ('path' in addr) server.listen(addr.path, done);
    else server.listen(addr.port, addr.host, done);
  });
  if ('path' in addr) await restrictSocket(addr.path);
}
