import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service, ServiceSpec } from '../../api/service.ts';
import { rolledBack, withNewSpec } from '../../api/service-rollout.ts';
import type { Task } from '../../api/task.ts';
import type { Store } from '../../store/store.ts';
import { Cluster } from '../../testing/cluster.ts';

/*
 * Rolling updates end to end on the in-process cluster: real store, orchestrator, allocator,
 * scheduler, dispatcher and agents on the fake driver (FAKE_RUN_MS makes a version crash).
 * The spec writes are the control API's own (service-rollout.ts).
 */

const running = (store: Store, serviceId: string): Task[] =>
  store.tasks.byService(serviceId).filter((t) => t.status.state === 'running');

/** Writes a new spec the way `PUT /v1/services/:id` does. */
async function update(c: Cluster, id: string, change: (spec: ServiceSpec) => void): Promise<Service> {
  return c.store.update((tx) => {
    const s = tx.services.get(id)!;
    const spec = structuredClone(s.spec);
    change(spec);
    tx.services.update(withNewSpec(s, spec, true, c.clock.now()));
    return tx.services.get(id)!;
  });
}

/** The fewest tasks observed running, from now until `stop()`. */
function watchRunning(store: Store, serviceId: string): { min: () => number; max: () => number; stop: () => void } {
  let min = running(store, serviceId).length;
  let max = min;
  const stop = store.watch(
    () => {
      const n = running(store, serviceId).length;
      min = Math.min(min, n);
      max = Math.max(max, n);
    },
    { kinds: ['task'] },
  );
  return { min: () => min, max: () => max, stop };
}

const stateIs = (id: string, ...states: string[]) => (s: Store) => states.includes(s.services.get(id)?.updateStatus?.state ?? '');
const env = (t: Task): string => t.spec.container.env.join(',');

void describe('rolling updates on the in-process cluster', () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.start({ nodes: 3 });
  });
  after(async () => {
    await c.stop();
  });

  it('stop-first, parallelism 1, delay 2 s: one at a time, never fewer than 3 of 4 running', async () => {
    const svc = await c.createService({
      name: 'stop-first',
      replicas: 4,
      updateConfig: { parallelism: 1, delayMs: 2_000, order: 'stop-first', monitorMs: 200 },
    });
    await c.waitFor((s) => running(s, svc.id).length === 4, 60_000, '4 running');
    const seen = watchRunning(c.store, svc.id);
    await update(c, svc.id, (spec) => (spec.taskTemplate.container.env = ['V=2']));
    await c.waitFor(stateIs(svc.id, 'completed'), 60_000, 'update completed');
    seen.stop();
    assert.equal(seen.min(), 3);
    assert.equal(seen.max(), 4);
    const now = running(c.store, svc.id);
    assert.equal(now.length, 4);
    assert.ok(now.every((t) => t.specVersion === 2 && env(t) === 'V=2'));
    // History: the old tasks are kept, shut down, beside the new ones.
    assert.equal(c.store.tasks.byService(svc.id).filter((t) => t.specVersion === 1 && t.status.state === 'shutdown').length, 4);
  });

  it('start-first: never fewer than 4 running; survives a manager restart mid-update', async () => {
    const svc = await c.createService({
      name: 'start-first',
      replicas: 4,
      updateConfig: { parallelism: 1, delayMs: 300, order: 'start-first', monitorMs: 300 },
    });
    await c.waitFor((s) => running(s, svc.id).length === 4, 60_000, '4 running');
    const seen = watchRunning(c.store, svc.id);
    await update(c, svc.id, (spec) => (spec.taskTemplate.container.env = ['V=2']));
    await c.waitFor((s) => running(s, svc.id).filter((t) => t.specVersion === 2).length === 2, 60_000, 'two slots updated');
    await c.stopManager();
    await c.startManager();
    await c.waitFor(stateIs(svc.id, 'completed'), 60_000, 'update completed');
    seen.stop();
    assert.equal(seen.min(), 4);
    await c.waitFor((s) => running(s, svc.id).length === 4, 60_000, 'old tasks stopped');
    assert.ok(running(c.store, svc.id).every((t) => env(t) === 'V=2'));
  });

  it('an update to a command that exits at once rolls back on its own (failure action rollback)', async () => {
    const svc = await c.createService({
      name: 'crashy',
      replicas: 4,
      taskTemplate: { driver: 'fake', container: { image: 'fake', env: ['V=1'] } },
      updateConfig: { parallelism: 1, monitorMs: 1_000, failureAction: 'rollback' },
      rollbackConfig: { parallelism: 1, monitorMs: 100 },
    });
    await c.waitFor((s) => running(s, svc.id).length === 4, 60_000, '4 running');
    const seen = watchRunning(c.store, svc.id);
    await update(c, svc.id, (spec) => (spec.taskTemplate.container.env = ['V=2', 'FAKE_RUN_MS=20', 'FAKE_EXIT_CODE=1']));
    await c.waitFor(stateIs(svc.id, 'rollback_completed', 'paused', 'rollback_paused'), 60_000, 'rollback completed');
    seen.stop();
    const s = c.store.services.get(svc.id)!;
    assert.equal(s.updateStatus?.state, 'rollback_completed');
    assert.match(s.updateStatus!.message, /^rollback completed \(update failed: 1 of 4 tasks failed .* in slot \d failed with exit code 1; rolling back\)$/);
    assert.deepEqual(s.spec.taskTemplate.container.env, ['V=1']);
    assert.equal(s.specVersion, 3);
    await c.waitFor((st) => running(st, svc.id).length === 4, 60_000, '4 running');
    const live = c.store.tasks.byService(svc.id).filter((t) => t.desiredState === 'running');
    assert.equal(live.length, 4);
    assert.ok(live.every((t) => env(t) === 'V=1' && t.specVersion === 3 && t.status.state === 'running'));
    assert.ok(seen.min() >= 3, 'the three slots the update never reached kept running');
  });

  it('an update to a health check that never passes rolls back on its own', async () => {
    const svc = await c.createService({
      name: 'sickly',
      replicas: 2,
      taskTemplate: { driver: 'fake', container: { image: 'fake', env: ['V=1'] } },
      updateConfig: { parallelism: 1, monitorMs: 1_000, failureAction: 'rollback', order: 'start-first' },
      rollbackConfig: { parallelism: 1, monitorMs: 100 },
    });
    await c.waitFor((s) => running(s, svc.id).length === 2, 60_000, '2 running');
    const seen = watchRunning(c.store, svc.id);
    await update(c, svc.id, (spec) => (spec.taskTemplate.container.env = ['V=2', 'FAKE_HEALTH=starting:200,unhealthy']));
    await c.waitFor(stateIs(svc.id, 'rollback_completed', 'paused', 'rollback_paused'), 60_000, 'rollback completed');
    seen.stop();
    const s = c.store.services.get(svc.id)!;
    assert.equal(s.updateStatus?.state, 'rollback_completed');
    assert.match(s.updateStatus!.message, /update failed: 1 of 2 tasks failed .*unhealthy/);
    await c.waitFor((st) => running(st, svc.id).length === 2, 60_000, '2 running');
    assert.ok(running(c.store, svc.id).every((t) => env(t) === 'V=1'));
    assert.ok(seen.min() >= 2, 'start-first: the old tasks kept serving');
  });

  it('rollback after a good update restores the previous spec; a second rollback the newer one', async () => {
    const svc = await c.createService({
      name: 'twice',
      replicas: 2,
      taskTemplate: { driver: 'fake', container: { image: 'fake', env: ['V=1'] } },
      updateConfig: { parallelism: 0, monitorMs: 0 },
      rollbackConfig: { parallelism: 0, monitorMs: 0 },
    });
    await c.waitFor((s) => running(s, svc.id).length === 2, 60_000, '2 running');
    await update(c, svc.id, (spec) => (spec.taskTemplate.container.env = ['V=2']));
    await c.waitFor(stateIs(svc.id, 'completed'), 60_000, 'update completed');
    for (const expected of ['V=1', 'V=2']) {
      await c.store.update((tx) => tx.services.update(rolledBack(tx.services.get(svc.id)!, 'manually requested rollback', c.clock.now())!));
      await c.waitFor(stateIs(svc.id, 'rollback_completed'), 60_000, 'rollback completed');
      await c.waitFor(
        (s) => running(s, svc.id).length === 2 && running(s, svc.id).every((t) => env(t) === expected),
        10_000,
        `2 running ${expected}`,
      );
    }
    assert.equal(c.store.services.get(svc.id)?.specVersion, 4);
  });
});
