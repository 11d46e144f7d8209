import { Type, type Static } from '@sinclair/typebox';

/**
 * One line of a task's output as `GET /v1/services/:idOrName/logs` streams it: newline-delimited
 * JSON, one object per line. `stream`, `line` and `time` are what the driver reported.
 */
export const TaskLogLine = Type.Object({
  taskId: Type.String(),
  /** Replica slot of the task, when it has one (`web.2`). */
  slot: Type.Optional(Type.Integer({ minimum: 1 })),
  nodeId: Type.Optional(Type.String()),
  stream: Type.Union([Type.Literal('stdout'), Type.Literal('stderr')]),
  line: Type.String(),
  time: Type.Optional(Type.String({ format: 'date-time' })),
});
export type TaskLogLine = Static<typeof TaskLogLine>;

/** A line as a log source produces it (the same shape as a driver's `LogLine`). */
export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly line: string;
  readonly time?: string;
}

/** How much of a task's log to read. */
export interface LogQuery {
  readonly follow: boolean;
  /** Last N lines only; undefined = all. */
  readonly tail?: number;
}

/** Query of `GET /v1/services/:idOrName/logs`. */
export const LogsQuery = Type.Object(
  {
    follow: Type.Boolean({ default: false, description: 'Keep streaming new lines, and the logs of tasks that start later.' }),
    tail: Type.Optional(Type.Integer({ minimum: 0, description: 'Only the last N lines of each task.' })),
  },
  { additionalProperties: false },
);
export type LogsQuery = Static<typeof LogsQuery>;

/**
 * In a log stream, in place of a line: the log of one task could not be read (its node is
 * gone, the driver failed). The other tasks' lines keep coming. With `taskId` empty it is the
 * stream's last entry: the whole stream broke (a manager forwarding it lost the leader).
 */
export const TaskLogError = Type.Object({
  taskId: Type.String(),
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});
export type TaskLogError = Static<typeof TaskLogError>;

/** One entry of a log stream. */
export type TaskLogEntry = TaskLogLine | TaskLogError;
