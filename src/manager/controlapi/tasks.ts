import type { FastifyInstance } from 'fastify';
import { Task } from '../../api/task.ts';
import { TaskFilter, TaskList, TaskRef, type TaskBrief } from '../../api/task-requests.ts';
import type { RouteContext } from './context.ts';
import { errorResponses } from './errors.ts';
import { resolveNode, resolveService, resolveTask } from './lookup.ts';

/** `GET /v1/tasks`, `GET /v1/tasks/:id`. */
export function registerTaskRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;

  app.get<{ Querystring: TaskFilter }>('/v1/tasks', {
    schema: {
      summary: 'List tasks',
      description: 'Filters combine with AND (several services: the tasks of any of them). An unknown service or node is a 404. With brief=true each task comes without its spec (half the size).',
      tags: ['tasks'],
      querystring: TaskFilter,
      response: { 200: TaskList, ...errorResponses('invalid_argument', 'not_found') },
    },
    handler: async (req, reply) => {
      const { service, node, desiredState, brief } = req.query;
      let tasks: readonly Task[];
      if (service !== undefined) {
        // Tasks of a removed service can outlive it for a while: its id still finds them.
        const idOf = (ref: string): string => (store.tasks.byService(ref).length > 0 ? ref : resolveService(store.services, ref).id);
        const ids = new Set(service.map(idOf));
        const [only] = ids;
        tasks = ids.size === 1 && only !== undefined ? store.tasks.byService(only) : store.tasks.all().filter((t) => ids.has(t.serviceId));
      } else if (node !== undefined) {
        tasks = store.tasks.byNode(resolveNode(store.nodes, node).id);
      } else {
        tasks = store.tasks.all();
      }
      const nodeId = node !== undefined && service !== undefined ? resolveNode(store.nodes, node).id : undefined;
      const found = tasks.filter(
        (t) => (nodeId === undefined || t.nodeId === nodeId) && (desiredState === undefined || t.desiredState === desiredState),
      );
      // The API's largest answer (10,000 tasks: 10 MB, 4.5 MB brief): `JSON.stringify` writes it
      // 2-6× faster than the schema's serializer, and a stored task holds nothing the schema would
      // strip (no secret data), so what is sent is the same.
      reply.serializer(JSON.stringify);
      return brief === true ? found.map(withoutSpec) : found;
    },
  });

  app.get<{ Params: TaskRef }>('/v1/tasks/:id', {
    schema: { summary: 'Inspect a task', tags: ['tasks'], params: TaskRef, response: { 200: Task, ...errorResponses('not_found') } },
    handler: async (req) => resolveTask(store.tasks, req.params.id),
  });
}

function withoutSpec(t: Task): TaskBrief {
  const { spec: _spec, ...brief } = t;
  return brief;
}
