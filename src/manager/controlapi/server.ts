import type { IncomingMessage, ServerResponse } from 'node:http';
import { fastify, type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { isoTime } from '../../lib/clock.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import { registerAuth } from './auth.ts';
import { compileOptions, StreamRegistry, type ControlApiDeps, type ControlApiOptions, type RouteContext } from './context.ts';
import { toApiError } from './errors.ts';
import { registerConfigRoutes } from './configs.ts';
import { registerEventRoutes } from './events.ts';
import { registerInfoRoutes } from './info.ts';
import { registerJoinRoutes } from './join.ts';
import { registerLeaderForwarding } from './leader-forward.ts';
import { registerManagerRoutes } from './managers.ts';
import { registerMetrics } from './metrics.ts';
import { registerNetworkRoutes } from './networks.ts';
import { registerNodeRoutes } from './nodes.ts';
import { OpenApiCollector } from './openapi.ts';
import { registerServiceLogRoutes } from './service-logs.ts';
import { registerSecretRoutes } from './secrets.ts';
import { registerServiceRoutes } from './services.ts';
import { registerBuildRoutes } from './builds.ts';
import { registerStackRoutes } from './stacks.ts';
import { registerTaskRoutes } from './tasks.ts';
import { validatorCompiler } from './validation.ts';
import { PACKAGE_VERSION } from './version.ts';

export type { ApiMetrics, ClusterAuthority, ControlApiDeps, ControlApiOptions, LeaderForwarding, LeaderView, LogSource, PeerRequestInit, SecretSealer } from './context.ts';
export { FORWARDED_BY_HEADER } from './leader-forward.ts';

/**
 * The REST API of a manager: validates and writes specs to the store, reads objects back
 * exactly as stored, streams events and logs. It never runs control logic. It does not listen
 * itself: `handler` serves requests, and the composition root mounts it on the manager's HTTP
 * listeners (`manager/http`), where the agent sessions mount too.
 */
export class ControlApi {
  readonly #deps: ControlApiDeps;
  readonly #ctx: RouteContext;
  readonly #app: FastifyInstance;
  readonly #streams = new StreamRegistry();
  readonly #openapi = new OpenApiCollector();
  readonly #lifecycle = new Lifecycle('ControlApi');

  constructor(deps: ControlApiDeps, options: ControlApiOptions = {}) {
    this.#deps = deps;
    const compiled = compileOptions(options, PACKAGE_VERSION);
    this.#ctx = { deps, options: compiled, streams: this.#streams, startedAt: isoTime(deps.clock) };
    // Fastify's own server never listens: requests come through `handler`.
    this.#app = fastify({ logger: false, return503OnClosing: true });
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
    // After authorization: only an authorized request is forwarded to the leader.
    registerLeaderForwarding(this.#app, this.#ctx);
    registerMetrics(this.#app, this.#ctx);
    registerJoinRoutes(this.#app, this.#ctx);
    registerInfoRoutes(this.#app, this.#ctx);
    registerServiceRoutes(this.#app, this.#ctx);
    registerServiceLogRoutes(this.#app, this.#ctx);
    registerTaskRoutes(this.#app, this.#ctx);
    registerNodeRoutes(this.#app, this.#ctx);
    registerManagerRoutes(this.#app, this.#ctx);
    registerEventRoutes(this.#app, this.#ctx);
    registerSecretRoutes(this.#app, this.#ctx);
    registerConfigRoutes(this.#app, this.#ctx);
    registerNetworkRoutes(this.#app, this.#ctx);
    registerStackRoutes(this.#app, this.#ctx);
    registerBuildRoutes(this.#app, this.#ctx);
    this.#app.get('/v1/openapi.json', { config: { hidden: true } }, async () => this.#openapi.document(compiled.version));
  }

  /**
   * Serves one request through the whole pipeline (routes, auth, validation, errors); what the
   * HTTP listeners mount at `/`. Requests are answered once `start()` has resolved.
   */
  readonly handler = (req: IncomingMessage, res: ServerResponse): void => {
    this.#app.routing(req, res);
  };

  /** Makes the routes ready; the HTTP listeners serve them through `handler`. */
  async start(): Promise<void> {
    await this.#lifecycle.startWith(async () => {
      await this.#app.ready();
    });
  }

  /** Ends open streams (events, logs), then closes Fastify (later requests get 503). Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async () => {
      this.#streams.closeAll();
      await this.#app.close();
    });
  }

  /** Sends a request without a socket (tests): the full pipeline, validation and errors included. */
  inject(options: InjectOptions): Promise<LightMyRequestResponse> {
    return this.#app.inject(options);
  }
}
