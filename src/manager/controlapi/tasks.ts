import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DesiredState, Task } from '../../api/task.ts';
import type { RouteContext } from './context.ts';
import { errorResponses } from './errors.ts';
import { resolveNode, resolveService, resolveTask } from './lookup.ts';

export const TaskFilter = Type.Object(
  {
    service: Type.Optional(Type.String({ description: 'Service id, name or id prefix.' })),
    node: Type.Optional(Type.String({ description: 'Node id, hostname or id prefix.' })),
    desiredState: Type.Optional(DesiredState),
  },
  { additionalProperties: false },
);
type TaskFilter = Static<typeof TaskFilter>;

const TaskRef = Type.Object({ id: Type.String({ description: 'Task id or unique id prefix.' }) });
type TaskRef = Static<typeof TaskRef>;

/** `GET /v1/tasks`, `GET /v1/tasks/:id`. */
export function registerTaskRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;

  app.get<{ Querystring: TaskFilter }>('/v1/tasks', {
    schema: {
      summary: 'List tasks',
      description: 'Filters combine with AND. An unknown service or node is a 404.',
      tags: ['tasks'],
      querystring: TaskFilter,
      response: { 200: Type.Array(Task), ...errorResponses('invalid_argument', 'not_found') },
    },
    handler: async (req) => {
      const { service, node, desiredState } = req.query;
      let tasks: readonly Task[];
      if (service !== undefined) {
        // Tasks of a removed service can outlive it for a while: its id still finds them.
        const direct = store.tasks.byService(service);
        tasks = direct.length > 0 ? direct : store.tasks.byService(resolveService(store.services, service).id);
      } else if (node !== undefined) {
        tasks = store.tasks.byNode(resolveNode(store.nodes, node).id);
      } else {
        tasks = store.tasks.all();
      }
      const nodeId = node !== undefined && service !== undefined ? resolveNode(store.nodes, node).id : undefined;
      return tasks.filter(
        (t) => (nodeId === undefined || t.nodeId === nodeId) && (desiredState === undefined || t.desiredState === desiredState),
      );
    },
  });

  app.get<{ Params: TaskRef }>('/v1/tasks/:id', {
    schema: { summary: 'Inspect a task', tags: ['tasks'], params: TaskRef, response: { 200: Task, ...errorResponses('not_found') } },
    handler: async (req) => resolveTask(store.tasks, req.params.id),
  });
}
