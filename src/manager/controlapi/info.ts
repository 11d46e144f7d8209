import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { RouteContext } from './context.ts';

export const Info = Type.Object({
  name: Type.Literal('flotilla'),
  version: Type.String(),
  /** The store revision this answer was read at. */
  revision: Type.Integer({ minimum: 0 }),
  startedAt: Type.String({ format: 'date-time' }),
  nodes: Type.Object({ total: Type.Integer(), ready: Type.Integer() }),
  services: Type.Integer(),
  tasks: Type.Object({ total: Type.Integer(), running: Type.Integer() }),
  /** Facts the composition root adds (data dir, driver, …). */
  manager: Type.Record(Type.String(), Type.String()),
});
export type Info = Static<typeof Info>;

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
