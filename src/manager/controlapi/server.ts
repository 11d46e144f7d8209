import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { chmod, unlink } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { fastify, type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { isoTime } from '../../lib/clock.ts';
import { registerAuth } from './auth.ts';
import { compileOptions, StreamRegistry, type ControlApiDeps, type ControlApiOptions, type ListenAddress, type RouteContext, type TlsCredentials } from './context.ts';
import { toApiError } from './errors.ts';
import { registerConfigRoutes } from './configs.ts';
import { registerEventRoutes } from './events.ts';
import { registerInfoRoutes } from './info.ts';
import { registerJoinRoutes } from './join.ts';
import { registerNodeRoutes } from './nodes.ts';
import { OpenApiCollector } from './openapi.ts';
import { registerServiceLogRoutes } from './service-logs.ts';
import { registerSecretRoutes } from './secrets.ts';
import { registerServiceRoutes } from './services.ts';
import { registerStackRoutes } from './stacks.ts';
import { registerTaskRoutes } from './tasks.ts';
import { validatorCompiler } from './validation.ts';
import { PACKAGE_VERSION } from './version.ts';

export type { ClusterAuthority, ControlApiDeps, ControlApiOptions, ListenAddress, LogSource, SecretSealer, TlsCredentials } from './context.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * The REST API of a manager: validates and writes specs to the store, reads objects back
 * exactly as stored, streams events and logs. It never runs control logic. `start()` listens
 * on every configured address (a unix socket is made mode 0600); `servers` are the listening
 * HTTP servers, so the composition root can attach agent WebSocket sessions to the same port.
 */
export class ControlApi {
  readonly #deps: ControlApiDeps;
  readonly #ctx: RouteContext;
  readonly #app: FastifyInstance;
  readonly #streams = new StreamRegistry();
  readonly #openapi = new OpenApiCollector();
  readonly #sockets = new Set<Socket>();
  #handler: Handler | undefined;
  #servers: Server[] = [];
  /** The HTTPS servers among `#servers`, whose credentials `setTlsCredentials` replaces. */
  readonly #tlsServers = new Set<Server>();
  #tls: TlsCredentials | undefined;
  #state: State = 'new';
  #stopping: Promise<void> | undefined;

  constructor(deps: ControlApiDeps, options: ControlApiOptions = {}) {
    this.#deps = deps;
    const compiled = compileOptions(options, PACKAGE_VERSION);
    this.#ctx = { deps, options: compiled, streams: this.#streams, startedAt: isoTime(deps.clock) };
    this.#tls = compiled.tls;
    this.#app = fastify({
      logger: false,
      // One server per listen address, sharing Fastify's handler: the first is Fastify's own.
      serverFactory: (handler) => {
        this.#handler = handler;
        return this.#serverFor(compiled.listen[0], handler);
      },
      return503OnClosing: true,
    });
    this.#app.setValidatorCompiler(validatorCompiler);
    // Objects go out exactly as stored: response schemas document, they do not filter.
    this.#app.setSerializerCompiler(() => (data) => JSON.stringify(data));
    this.#app.setErrorHandler((err, req, reply) => {
      const apiErr = toApiError(err);
      if (apiErr.code === 'internal') this.#deps.logger.error({ err, url: req.url }, 'control API request failed');
      return reply.code(apiErr.status).type('application/json').send(apiErr.toJSON());
    });
    this.#app.setNotFoundHandler((req, reply) => {
      const e = new ApiError('not_found', `no route ${req.method} ${req.url.split('?')[0]}: see GET /v1/openapi.json`);
      return reply.code(404).send(e.toJSON());
    });
    this.#openapi.attach(this.#app);
    registerAuth(this.#app, this.#ctx);
    registerJoinRoutes(this.#app, this.#ctx);
    registerInfoRoutes(this.#app, this.#ctx);
    registerServiceRoutes(this.#app, this.#ctx);
    registerServiceLogRoutes(this.#app, this.#ctx);
    registerTaskRoutes(this.#app, this.#ctx);
    registerNodeRoutes(this.#app, this.#ctx);
    registerEventRoutes(this.#app, this.#ctx);
    registerSecretRoutes(this.#app, this.#ctx);
    registerConfigRoutes(this.#app, this.#ctx);
    registerStackRoutes(this.#app, this.#ctx);
    this.#app.get('/v1/openapi.json', { config: { hidden: true } }, async () => this.#openapi.document(compiled.version));
  }

  /** The listening HTTP servers (empty before `start()` or with no listen addresses). */
  get servers(): readonly Server[] {
    return this.#servers;
  }

  /** Where each server listens: `unix:///path` or `http://host:port`. */
  get addresses(): string[] {
    return this.#servers.map((s) => {
      const a = s.address();
      if (typeof a === 'string') return `unix://${a}`;
      if (a === null) return '';
      return `${this.#tlsServers.has(s) ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    });
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`ControlApi cannot start: it is ${this.#state}`);
    this.#state = 'starting';
    await this.#app.ready();
    const handler = this.#handler;
    const addresses = this.#ctx.options.listen;
    try {
      for (const [i, addr] of addresses.entries()) {
        const server = i === 0 ? this.#app.server : this.#serverFor(addr, handler);
        await listen(server, addr);
        this.#servers.push(server);
      }
    } catch (err) {
      await this.#closeServers();
      this.#state = 'stopped';
      throw err;
    }
    this.#state = 'running';
    this.#deps.logger.info({ addresses: this.addresses }, 'control API listening');
  }

  /** Ends open streams, closes every server (and connections still open), then Fastify. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#state = 'stopping';
      this.#streams.closeAll();
      await this.#closeServers();
      await this.#app.close();
      this.#state = 'stopped';
    })();
    return this.#stopping;
  }

  /**
   * Replaces the HTTPS listeners' key, certificate and CA (a renewed server certificate); new
   * connections use them, open ones keep theirs.
   */
  setTlsCredentials(credentials: TlsCredentials): void {
    this.#tls = credentials;
    for (const s of this.#tlsServers) (s as unknown as HttpsServer).setSecureContext(tlsServerOptions(credentials));
  }

  /** Sends a request without a socket (tests): the full pipeline, validation and errors included. */
  inject(options: InjectOptions): Promise<LightMyRequestResponse> {
    return this.#app.inject(options);
  }

  /** An HTTP server for a plain address, an HTTPS one (client certificates requested) for a TLS one. */
  #serverFor(addr: ListenAddress | undefined, handler: Handler | undefined): Server {
    if (addr && 'port' in addr && addr.tls === true && this.#tls) {
      const server = createHttpsServer(tlsServerOptions(this.#tls), handler) as unknown as Server;
      this.#tlsServers.add(server);
      // TLS sockets are tracked through the raw TCP connection they wrap.
      return this.#track(server);
    }
    return this.#track(createServer(handler));
  }

  #track(server: Server): Server {
    server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    return server;
  }

  async #closeServers(): Promise<void> {
    // Fastify closes only servers it started itself; these were started here, so closed here.
    const closing = this.#servers.filter((s) => s.listening).map((s) => new Promise<void>((r) => s.close(() => r())));
    // Upgraded connections (agent sessions) and streams are not idle: cut them so close returns.
    for (const s of this.#servers) s.closeIdleConnections();
    for (const sock of this.#sockets) sock.destroy();
    await Promise.all(closing);
  }
}

/**
 * Client certificates are asked for but not required at the TLS layer: `GET /v1/ca` and
 * `POST /v1/join` must work without one, so each route decides (see `auth.ts`).
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
  if ('path' in addr) await chmod(addr.path, 0o600);
}

/** Whether something accepts connections on the unix socket at `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A socket file left by a process that died is removed; one that answers means a manager runs. */
async function removeStaleSocket(path: string): Promise<void> {
  if (await socketAnswers(path)) throw new ApiError('failed_precondition', `another manager is already listening on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}
