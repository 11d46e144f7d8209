import { isDeepStrictEqual } from 'node:util';
import type { Service } from '../../api/service.ts';
import { rolledBack } from '../../api/service-rollout.ts';
import type { DesiredState, Task } from '../../api/task.ts';
import { StoreError, type BatchResult, type Store, type Tx } from '../../store/store.ts';
import type { Action } from './actions.ts';

/**
 * The orchestrator's only writes: each action of a plan becomes one small transaction of a
 * store batch, so one stale task does not sink the others. Desired states are raised on the
 * task as the transaction reads it (an agent's status write in between is no conflict);
 * deletes compare versions (a task assigned in between is not deleted).
 */
export function applyActions(store: Store, actions: readonly Action[]): Promise<BatchResult> {
  return store.batch((b) => {
    for (const a of actions) b.update((tx) => applyAction(tx, a));
  });
}

const DESIRED_RANK: Readonly<Record<DesiredState, number>> = { running: 0, shutdown: 1, remove: 2 };

function applyAction(tx: Tx, a: Action): void {
  switch (a.kind) {
    case 'create':
      tx.tasks.create(a.task);
      return;
    case 'stop': {
      const cur = tx.tasks.get(a.task.id);
      if (cur) raiseDesired(tx, cur, a.desiredState);
      return;
    }
    case 'replace': {
      const cur = tx.tasks.get(a.old.id);
      // Replace only what we saw live: if someone stopped or deleted it meanwhile, plan again.
      if (!cur || cur.desiredState !== 'running') {
        throw new StoreError('conflict', `task ${a.old.id} changed before its replacement was created`);
      }
      raiseDesired(tx, cur, a.oldDesired);
      tx.tasks.create(a.task);
      return;
    }
    case 'adopt': {
      const cur = tx.tasks.get(a.task.id);
      if (cur && cur.desiredState === 'running' && cur.specVersion < a.specVersion) tx.tasks.update({ ...cur, specVersion: a.specVersion });
      return;
    }
    case 'delete':
      if (tx.tasks.get(a.task.id)) tx.tasks.delete(a.task.id, a.task.version);
      return;
    case 'status': {
      const cur = unchangedService(tx, a.service);
      tx.services.update({ ...cur, updateStatus: a.status });
      return;
    }
    case 'rollback': {
      const next = rolledBack(unchangedService(tx, a.service), a.message, a.at);
      if (!next) throw new StoreError('conflict', `service ${a.service.id} has no previous spec to roll back to`);
      tx.services.update(next);
      return;
    }
  }
}

/**
 * The service as the transaction reads it, if its spec version and rollout status are still
 * what the plan saw; a conflict otherwise (an API write came in between: plan again).
 */
function unchangedService(tx: Tx, seen: Service): Service {
  const cur = tx.services.get(seen.id);
  if (!cur || cur.specVersion !== seen.specVersion || !isDeepStrictEqual(cur.updateStatus, seen.updateStatus)) {
    throw new StoreError('conflict', `service ${seen.id} changed before its rollout status was written`);
  }
  return cur;
}

/** Desired state only moves forward: running → shutdown → remove. */
function raiseDesired(tx: Tx, cur: Task, desired: DesiredState): void {
  if (DESIRED_RANK[desired] <= DESIRED_RANK[cur.desiredState]) return;
  tx.tasks.update({ ...cur, desiredState: desired });
}
