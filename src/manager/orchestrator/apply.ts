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
      raiseDesired(tx, cur, 'shutdown');
      tx.tasks.create(a.task);
      return;
    }
    case 'delete':
      if (tx.tasks.get(a.task.id)) tx.tasks.delete(a.task.id, a.task.version);
      return;
  }
}

/** Desired state only moves forward: running → shutdown → remove. */
function raiseDesired(tx: Tx, cur: Task, desired: DesiredState): void {
  if (DESIRED_RANK[desired] <= DESIRED_RANK[cur.desiredState]) return;
  tx.tasks.update({ ...cur, desiredState: desired });
}
