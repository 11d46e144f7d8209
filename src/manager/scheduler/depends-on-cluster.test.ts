import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jobProgress } from '../../api/job.ts';
import { stateRank, type Task } from '../../api/task.ts';
import { Cluster } from '../../testing/cluster.ts';
import type { Store } from '../../store/store.ts';

/**
 * depends_on end to end on the in-process cluster (real store, orchestrator, allocator,
 * scheduler, dispatcher; simulated agents on the fake driver): a migration job, an API that
 * needs it completed, a web front end that needs the API healthy.
 */

const ASSIGNED = stateRank('assigned');

function tasksOf(store: Store, name: string): Task[] {
  const s = store.services.byName(name);
  return s ? store.tasks.byService(s.id) : [];
}

/** A task template on the fake driver with these knobs (a `taskTemplate` override replaces the harness's). */
function fake(...env: string[]): { driver: 'fake'; container: { image: string; env: string[] } } {
  return { driver: 'fake', container: { image: 'fake', env } };
}

function placed(t: Task): boolean {
  return stateRank(t.status.state) >= ASSIGNED;
}

function jobDone(store: Store, name: string): boolean {
  const s = store.services.byName(name);
  return s !== undefined && jobProgress(s, store.tasks.byService(s.id)).done;
}

function allHealthy(store: Store, name: string, replicas: number): boolean {
  const up = tasksOf(store, name).filter((t) => t.desiredState === 'running' && t.status.state === 'running' && t.status.health === 'healthy');
  return up.length >= replicas;
}

void describe('depends_on on the in-process cluster', () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.start({ nodes: 2 });
  });
  after(async () => {
    await c.stop();
  });

  void it('starts api only after migrate completed, and web only after api is healthy', async () => {
    const violations: string[] = [];
    const messages = new Set<string>();
    // Checked on every committed change: a dependent task is never placed before its gate opened.
    const unwatch = c.store.watch(() => {
      const s = c.store;
      for (const t of tasksOf(s, 'api')) {
        if (t.status.state === 'pending') messages.add(t.status.message);
        if (placed(t) && !jobDone(s, 'migrate')) violations.push(`api task ${t.id} ${t.status.state} before migrate completed`);
      }
      for (const t of tasksOf(s, 'web')) {
        if (t.status.state === 'pending') messages.add(t.status.message);
        if (placed(t) && !allHealthy(s, 'api', 2)) violations.push(`web task ${t.id} ${t.status.state} before api was healthy`);
      }
    });
    try {
      // Created dependents first: the order of creation does not matter.
      await c.createService({
        name: 'web',
        dependsOn: [{ service: 'api', condition: 'service_healthy' }],
      });
      await c.createService({
        name: 'api',
        replicas: 2,
        dependsOn: [{ service: 'migrate', condition: 'service_completed_successfully' }],
        taskTemplate: fake('FAKE_HEALTH=starting:300,healthy'),
      });
      await c.waitFor(
        (s) => tasksOf(s, 'web').some((t) => t.status.message === 'waiting for api: no such service' || t.status.message.startsWith('waiting for api: service_healthy')),
        5_000,
        'web waiting for api',
      );
      await c.waitFor(
        (s) => tasksOf(s, 'api').some((t) => t.status.message === 'waiting for migrate: no such service'),
        5_000,
        'api waiting for a migrate service that does not exist yet',
      );
      await c.createService({
        name: 'migrate',
        mode: 'replicated-job',
        replicas: 1,
        taskTemplate: fake('FAKE_RUN_MS=300', 'FAKE_EXIT_CODE=0'),
      });
      await c.waitFor((s) => tasksOf(s, 'web').some((t) => t.status.state === 'running'), 60_000, 'web running');
    } finally {
      unwatch();
    }
    assert.deepEqual(violations, []);
    assert.ok(jobDone(c.store, 'migrate'));
    assert.ok(messages.has('waiting for migrate: service_completed_successfully (0 of 1 completed)'), [...messages].join(' | '));
    assert.ok(
      [...messages].some((m) => /^waiting for api: service_healthy \([01] of 2 healthy\)$/.test(m)),
      [...messages].join(' | '),
    );
    // The migration ran once and is not restarted.
    const migrate = tasksOf(c.store, 'migrate');
    assert.equal(migrate.length, 1);
    assert.equal(migrate[0]?.status.state, 'complete');
  });

  void it('a migration that keeps failing leaves api pending with the reason', async () => {
    await c.createService({
      name: 'migrate-bad',
      mode: 'replicated-job',
      replicas: 1,
      taskTemplate: {
        ...fake('FAKE_RUN_MS=50', 'FAKE_EXIT_CODE=1'),
        restartPolicy: { condition: 'on-failure', delayMs: 0, maxAttempts: 1 },
      },
    });
    await c.createService({
      name: 'api-bad',
      dependsOn: [{ service: 'migrate-bad', condition: 'service_completed_successfully' }],
    });
    const reason = 'waiting for migrate-bad: service_completed_successfully (0 of 1 completed, 2 failed)';
    await c.waitFor(
      (s) => tasksOf(s, 'api-bad').some((t) => t.status.message === reason),
      15_000,
      'api-bad waiting on a migration that gave up',
    );
    const migrate = tasksOf(c.store, 'migrate-bad');
    assert.equal(migrate.length, 2, 'one run and one restart (maxAttempts 1)');
    assert.ok(migrate.every((t) => t.status.state === 'failed' && t.status.exitCode === 1));
    const api = tasksOf(c.store, 'api-bad');
    assert.equal(api.length, 1);
    assert.equal(api[0]?.status.state, 'pending');
  });
});
