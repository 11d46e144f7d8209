import type { Service } from '../../api/service.ts';
import { isTerminal, type Task } from '../../api/task.ts';
import type { ServicePlan } from './actions.ts';
import { PlanBuilder, type PlanInput } from './builder.ts';
import { globalGroups } from './global.ts';
import { choosePrimary, planGroup, type Group } from './group.ts';
import { removable } from './history.ts';
import { replicatedGroups } from './replicated.ts';
import { isLive, stopsAtOnce } from './task-life.ts';
import { planUpdate, type UpdateStep } from './update.ts';

export type { PlanInput, PlanOptions } from './builder.ts';

/**
 * The orchestrator's pure core: what to do so that one service's tasks match its spec,
 * given a store snapshot and the time. Replicated slots or global nodes, restarts with
 * backoff, moves off drained and down nodes, updates, removal and history — all decided
 * here, all applied by the shell.
 */
export function planService(input: PlanInput): ServicePlan {
  const b = new PlanBuilder(input);
  const { service, tasks } = input;
  if (service === undefined) {
    planDeleted(b, tasks);
  } else {
    const groups = service.spec.mode === 'global' ? globalGroups(b, service, tasks) : replicatedGroups(b, service, tasks);
    const steps = updateSteps(b, service, groups);
    for (const g of groups) planGroup(b, service, g, steps);
  }
  for (const t of removable(tasks, input.nodes)) b.delete(t, 'removed and stopped');
  return b.build();
}

/** The service is gone: every task is to be removed; dead ones are deleted at once. */
function planDeleted(b: PlanBuilder, tasks: readonly Task[]): void {
  for (const t of tasks) {
    if (t.desiredState === 'remove') continue; // deleted by the removal sweep once stopped
    if (stopsAtOnce(t, b.nodes)) b.delete(t, 'service deleted');
    else b.stop(t, 'remove', 'service deleted');
  }
}

/** The update decision for the live tasks of wanted groups built from an older spec. */
function updateSteps(b: PlanBuilder, service: Service, groups: readonly Group[]): Map<string, UpdateStep> {
  const outdated: Task[] = [];
  for (const g of groups) {
    if (!g.wanted) continue;
    const p = choosePrimary(g.tasks.filter(isLive));
    if (!p || isTerminal(p.status.state) || p.specVersion >= service.specVersion) continue;
    if (p.nodeId !== undefined && g.evict(p) !== undefined) continue; // moving anyway
    outdated.push(p);
  }
  const steps = new Map<string, UpdateStep>();
  for (const s of planUpdate(service, outdated, b.nodes)) steps.set(s.task.id, s);
  return steps;
}
