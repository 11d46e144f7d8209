import { isDeepStrictEqual } from 'node:util';
import type { Node } from '../../api/node.ts';
import { publishedPorts } from '../../api/published-ports.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { isTerminal } from '../../api/task-state.ts';
import { isLive, stopsAtOnce } from './task-life.ts';

/**
 * Live tasks of an older spec version that already run exactly what the current spec says —
 * after a rollback, the tasks the failed update never reached. They are not replaced: the
 * orchestrator stamps them with the current `specVersion` (a field only it writes; agents
 * ignore it), so the rollout, `service ps` and the CLI's progress all see them as current.
 * Returns the tasks to stamp and the task list as it reads once they are. Pure.
 */
export function adoptUnchanged(
  service: Service,
  tasks: readonly Task[],
  nodes: ReadonlyMap<string, Node>,
): { adopt: Task[]; tasks: Task[] } {
  const adopt: Task[] = [];
  let ports: unknown;
  const out = tasks.map((t) => {
    if (t.specVersion >= service.specVersion || !isLive(t) || isTerminal(t.status.state) || stopsAtOnce(t, nodes)) return t;
    ports ??= publishedPorts(service.spec);
    if (!isDeepStrictEqual(t.spec, service.spec.taskTemplate) || !isDeepStrictEqual(t.ports, ports)) return t;
    adopt.push(t);
    return { ...t, specVersion: service.specVersion };
  });
  return { adopt, tasks: adopt.length === 0 ? [...tasks] : out };
}
