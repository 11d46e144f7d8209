import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../../api/task.ts';
import type { Store } from '../../store/store.ts';
import { Cluster } from '../../testing/cluster.ts';

/**
 * Health through the whole path on the in-process cluster (simulated nodes, fake driver's
 * `FAKE_HEALTH`): the agent's health reports reach the store through the dispatcher, and an
 * unhealthy task is failed and replaced by the orchestrator under its restart policy.
 */
const tasksOf = (s: Store, serviceId: string): Task[] => s.tasks.byService(serviceId);

void describe('health checks in a cluster', () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.start({ nodes: 1 });
  });
  after(async () => {
    await c.stop();
  });

  void it('stores health changes of running tasks', async () => {
    const svc = await c.createService({
      name: 'slow-start',
      taskTemplate: { driver: 'fake', container: { env: ['FAKE_HEALTH=starting:300,healthy'] } },
    });
    await c.waitFor((s) => tasksOf(s, svc.id).some((t) => t.status.state === 'running' && t.status.health === 'starting'), 60_000, 'running/starting');
    await c.waitFor((s) => tasksOf(s, svc.id).some((t) => t.status.state === 'running' && t.status.health === 'healthy'), 60_000, 'running/healthy');
  });

  void it('fails an unhealthy task and replaces it in the same slot', async () => {
    const svc = await c.createService({
      name: 'sickly',
      taskTemplate: {
        driver: 'fake',
        container: { env: ['FAKE_HEALTH=healthy:500,unhealthy'] },
        restartPolicy: { condition: 'any', delayMs: 0 },
      },
    });
    await c.waitFor((s) => tasksOf(s, svc.id).some((t) => t.status.state === 'failed'), 60_000, 'a failed task');
    const failed = tasksOf(c.store, svc.id).find((t) => t.status.state === 'failed')!;
    assert.equal(failed.status.health, 'unhealthy');
    assert.equal(failed.status.err, 'unhealthy: fake health check failed');
    await c.waitFor(
      (s) => tasksOf(s, svc.id).some((t) => t.id !== failed.id && t.slot === failed.slot && t.status.state === 'running'),
      10_000,
      'a replacement in the same slot',
    );
  });
});
