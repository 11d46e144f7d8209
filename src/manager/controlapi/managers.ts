import type { FastifyInstance } from 'fastify';
import { ManagersResponse } from '../../api/managers.ts';
import type { RouteContext } from './context.ts';

/** `GET /v1/managers`: every manager taking part now, as this manager sees them (any manager answers). */
export function registerManagerRoutes(app: FastifyInstance, ctx: RouteContext): void {
  app.get('/v1/managers', {
    schema: {
      summary: 'List the managers taking part now, the leader marked',
      description: 'Any manager answers, from its own view of the election. Clients and agents keep the addresses to fail over between managers.',
      tags: ['nodes'],
      response: { 200: ManagersResponse },
    },
    handler: async (): Promise<ManagersResponse> => ({ managers: (ctx.deps.managers?.() ?? []).map((m) => ({ ...m })) }),
  });
}
