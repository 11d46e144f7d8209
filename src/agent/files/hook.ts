import type { TaskHook } from '../executor/hooks.ts';
import type { TaskFiles } from './task-files.ts';

/**
 * The first task hook: a task's secret and config files. `prestart` mounts the task's tmpfs
 * and writes its files (the driver gets `fileMounts`, `secretsDir`, `configsDir`); `poststop`
 * unmounts it (idempotent, also for strays found at recovery).
 */
export function filesHook(files: TaskFiles): TaskHook {
  return {
    name: 'files',
    prestart: (task) => files.prepare(task),
    poststop: (taskId) => files.release(taskId),
  };
}
