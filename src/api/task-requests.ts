import { Type, type Static } from '@sinclair/typebox';
import { DesiredState, Task } from './task.ts';

/** The wire shapes of the task routes besides the task itself: path parameter and list filter. */

/** Path parameter of `/v1/tasks/:id`. */
export const TaskRef = Type.Object({ id: Type.String({ description: 'Task id or unique id prefix.' }) });
export type TaskRef = Static<typeof TaskRef>;

/** `GET /v1/tasks`. */
export const TaskList = Type.Array(Task);

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
  },
  { additionalProperties: false },
);
export type TaskFilter = Static<typeof TaskFilter>;
