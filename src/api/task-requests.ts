import { Type, type Static } from '@sinclair/typebox';
import { TaskTemplate } from './service.ts';
import { DesiredState, Task } from './task.ts';

/** The wire shapes of the task routes besides the task itself: path parameter and list filter. */

/** Path parameter of `/v1/tasks/:id`. */
export const TaskRef = Type.Object({ id: Type.String({ description: 'Task id or unique id prefix.' }) });
export type TaskRef = Static<typeof TaskRef>;

/**
 * A task without its `spec` (the service's task template at `specVersion`, half of a task's
 * size): what `GET /v1/tasks?brief=true` lists, for clients that show many tasks (the dashboard).
 */
export const TaskBrief = Type.Omit(Task, ['spec']);
export type TaskBrief = Static<typeof TaskBrief>;

/** `GET /v1/tasks`: tasks, without `spec` when `brief=true`. */
export const TaskList = Type.Array(Type.Composite([TaskBrief, Type.Object({ spec: Type.Optional(TaskTemplate) })]));

/** Query of `GET /v1/tasks`; filters combine with AND, repeated `service`s with OR. */
export const TaskFilter = Type.Object(
  {
    service: Type.Optional(
      Type.Array(Type.String({ minLength: 1, errorMessage: 'expected a service id, name or id prefix' }), {
        description: 'Service id, name or id prefix; repeat for the tasks of several services.',
      }),
    ),
    node: Type.Optional(Type.String({ description: 'Node id, hostname or id prefix.' })),
    desiredState: Type.Optional(Type.Union(DesiredState.anyOf, { errorMessage: 'expected running, shutdown or remove' })),
    brief: Type.Optional(Type.Boolean({ description: 'Leave out each task’s `spec` (`GET /v1/tasks/:id` has it): half the size, for lists of thousands.' })),
  },
  { additionalProperties: false },
);
export type TaskFilter = Static<typeof TaskFilter>;
