import type { Node } from '../api/node.ts';
import type { Service } from '../api/service.ts';
import { rolledBack } from '../api/service-rollout.ts';
import type { DesiredState, Task, TaskState } from '../api/task.ts';
import type { Action, ServicePlan } from '../manager/orchestrator/actions.ts';
import type { NewTask } from '../manager/orchestrator/new-task.ts';
import type { PlanOptions } from '../manager/orchestrator/builder.ts';
import { planService } from '../manager/orchestrator/plan.ts';
import { DEFAULT_RESTART_TUNING } from '../manager/orchestrator/restart.ts';

/**
 * A store-less world for testing the pure core: a map of tasks to which plans are applied
 * the way the shell would apply them. Only tests use it.
 */
export class SimWorld {
  service: Service | undefined;
  readonly tasks = new Map<string, Task>();
  readonly nodes = new Map<string, Node>();
  now: number;
  options: PlanOptions = { taskHistoryLimit: 5, restart: DEFAULT_RESTART_TUNING };
  #seq = 0;

  constructor(service: Service | undefined, now: number) {
    this.service = service;
    this.now = now;
  }

  addNode(n: Node): void {
    this.nodes.set(n.id, n);
  }

  plan(): ServicePlan {
    return planService({
      serviceId: this.service?.id ?? 'svc-web',
      service: this.service,
      tasks: [...this.tasks.values()],
      nodes: this.nodes,
      now: this.now,
      options: this.options,
      newId: () => `t${String(++this.#seq).padStart(4, '0')}`,
    });
  }

  /** Plans once and applies the plan; returns it. */
  step(): ServicePlan {
    const plan = this.plan();
    this.apply(plan);
    return plan;
  }

  apply(plan: ServicePlan): void {
    const iso = new Date(this.now).toISOString();
    const raise = (t: Task, d: DesiredState): void => {
      const cur = this.tasks.get(t.id);
      if (cur && rank(d) > rank(cur.desiredState)) this.tasks.set(t.id, { ...cur, desiredState: d, updatedAt: iso });
    };
    for (const a of plan.actions) {
      if (a.kind === 'delete') this.tasks.delete(a.task.id);
      else if (a.kind === 'stop') raise(a.task, a.desiredState);
      else if (a.kind === 'adopt') {
        const cur = this.tasks.get(a.task.id);
        if (cur) this.tasks.set(cur.id, { ...cur, specVersion: a.specVersion });
      } else if (a.kind === 'status') {
        if (this.service) this.service = { ...this.service, updateStatus: a.status };
      } else if (a.kind === 'rollback') {
        if (this.service) this.service = rolledBack(this.service, a.message, a.at) ?? this.service;
      } else {
        if (a.kind === 'replace') raise(a.old, a.oldDesired);
        this.tasks.set(a.task.id, { ...a.task, version: 1, createdAt: iso, updatedAt: iso });
      }
    }
  }

  /** Tasks wanted running, by slot or node. */
  live(): Task[] {
    return [...this.tasks.values()].filter((t) => t.desiredState === 'running');
  }

  /** Moves a task to a state at the current time, as an agent would report it. */
  report(id: string, state: TaskState, extra: Partial<Task['status']> = {}, nodeId?: string): void {
    const t = this.tasks.get(id);
    if (!t) throw new Error(`no task ${id}`);
    const next: Task = { ...t, status: { ...t.status, ...extra, state, timestamp: new Date(this.now).toISOString() } };
    if (nodeId !== undefined) next.nodeId = nodeId;
    this.tasks.set(id, next);
  }
}

function rank(d: DesiredState): number {
  return d === 'running' ? 0 : d === 'shutdown' ? 1 : 2;
}

/**
 * Actions as short sorted lines for test assertions: `create <where>`, `replace <old> <where>`,
 * `shutdown <id>`, … `where` names the new task's place (slot or node).
 */
export function summarize(actions: readonly Action[], where: (task: NewTask) => string): string[] {
  return actions
    .map((a) => {
      switch (a.kind) {
        case 'create':
          return `create ${where(a.task)}`;
        case 'replace':
          return `replace ${a.old.id} ${where(a.task)}`;
        case 'stop':
          return `${a.desiredState} ${a.task.id}`;
        case 'delete':
          return `delete ${a.task.id}`;
        case 'status':
          return `status ${a.status.state}`;
        case 'rollback':
          return 'rollback';
        case 'adopt':
          return `adopt ${a.task.id}`;
      }
    })
    .sort();
}
