import { TASK_LABELS } from '../../api/service.ts';
import type { DriverTask } from './driver.ts';

/**
 * The labels every driver puts on a task's container or process: the spec's own labels, then
 * `TASK_LABELS` (which win, so a spec cannot forge another task's identity). `recover()`
 * reads them back.
 */
export function taskLabels(task: DriverTask): Record<string, string> {
  return {
    ...task.spec.container.labels,
    [TASK_LABELS.serviceId]: task.serviceId,
    [TASK_LABELS.serviceName]: task.serviceName,
    [TASK_LABELS.taskId]: task.id,
    [TASK_LABELS.nodeId]: task.nodeId,
    ...(task.slot === undefined ? {} : { [TASK_LABELS.slot]: String(task.slot) }),
  };
}
