import { isJobMode } from '../../api/job.ts';
import type { Task } from '../../api/task.ts';
import type { ServicePlan } from './actions.ts';
import { adoptUnchanged } from './adopt.ts';
import { PlanBuilder, type PlanInput } from './builder.ts';
import { globalGroups } from './global.ts';
import { planGroup } from './group.ts';
import { removable } from './history.ts';
import { planJob } from './job.ts';
import { replicatedGroups } from './replicated.ts';
import { stopsAtOnce } from './task-life.ts';
import { planUpdate } from './update.ts';

export type { PlanInput, PlanOptions } from './builder.ts';

/**
 * The orchestrator's pure core: what to do so that one service's tasks match its spec,
 * given a store snapshot and the time. Replicated slots or global nodes, restarts with
 * backoff, moves off drained and down nodes, rolling updates and rollbacks (update.ts),
 * jobs run to completion (job.ts), removal and history — all decided here, all applied by the shell.
 */
export function planService(input: PlanInput): ServicePlan {
  const b = new PlanBuilder(input);
  const { service } = input;
  let tasks = input.tasks;
  if (service === undefined) {
    planDeleted(b, tasks);
  } else if (isJobMode(service.spec.mode)) {
    // Jobs run to completion: no slots kept alive, no rolling update (job.ts).
    planJob(b, service, tasks);
  } else {
    const adopted = adoptUnchanged(service, tasks, b.nodes);
    for (const t of adopted.adopt) b.adopt(t, service.specVersion, 'it already runs the current spec');
    tasks = adopted.tasks;
    const groups = service.spec.mode === 'global' ? globalGroups(b, service, tasks) : replicatedGroups(b, service, tasks);
    const update = planUpdate(service, groups, b.nodes, b.now);
    if (update.rollback !== undefined) {
      // Nothing else this round: the next plan works from the rolled-back spec.
      b.rollback(service, update.rollback);
      return b.build();
    }
    if (update.status) b.status(service, update.status, update.status.message);
    if (update.wakeAt !== undefined) b.wakeAt(update.wakeAt);
    for (const g of groups) planGroup(b, service, g, update.steps);
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
