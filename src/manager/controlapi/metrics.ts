import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import type { RouteContext } from './context.ts';

/** The route label of a request no route matched: bounded, whatever the URL. */
const UNMATCHED = 'unmatched';

/**
 * `GET /metrics` (Prometheus text format) and the one hook that records every answered request
 * by method, route pattern and status. Authorization is `auth.ts`'s like any route: open on
 * the unix socket and plain TCP, the admin credential (bearer token or client certificate) on
 * HTTPS. Streams (`reply.hijack()`: events, logs) are not recorded: Fastify skips their
 * `onResponse`.
 */
export function registerMetrics(app: FastifyInstance, ctx: RouteContext): void {
  const metrics = ctx.deps.metrics;
  if (metrics) {
    app.addHook('onResponse', async (req, reply) => {
      metrics.request(req.method, req.routeOptions.url ?? UNMATCHED, reply.statusCode, reply.elapsedTime / 1000);
    });
  }
  app.get('/metrics', { config: { hidden: true } }, async (_req, reply) => {
    if (!metrics) throw new ApiError('not_found', 'this manager keeps no metrics');
    const { contentType, text } = await metrics.exposition();
    return reply.type(contentType).send(text);
  });
}
