import type { FastifyInstance } from 'fastify';
import { Info } from '../../api/info.ts';
import type { RouteContext } from './context.ts';

/** `GET /v1/info`: who this manager is and a one-glance count of the cluster. */
export function registerInfoRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;
  app.get('/v1/info', {
    schema: { summary: 'Manager and cluster info', tags: ['info'], response: { 200: Info } },
    handler: async (): Promise<Info> => {
      const nodes = store.nodes.all();
      const tasks = store.tasks.all();
      return {
        name: 'flotilla',
        version: ctx.options.version,
        revision: store.revision,
        startedAt: ctx.startedAt,
        nodes: { total: nodes.length, ready: nodes.filter((n) => n.status.state === 'ready').length },
        services: store.services.all().length,
        tasks: { total: tasks.length, running: tasks.filter((t) => t.status.state === 'running').length },
        manager: { ...ctx.options.info },
      };
    },
  });
}
