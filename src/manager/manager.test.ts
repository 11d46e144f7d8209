import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { newId } from '../lib/ids.ts';
import { silentLogger } from '../lib/logger.ts';
import type { Backend } from '../store/backend.ts';
import { SqliteBackend } from '../store/sqlite/sqlite-backend.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { makeServiceSpec } from '../testing/fixtures.ts';
import { FlippedLeadership } from '../testing/flipped-leadership.ts';
import { Manager } from './manager.ts';

void describe('Manager: store backend and leadership', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-manager-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  void it('opens the store on the given backend and runs the control loops only while it leads', async () => {
    const clock = new FakeClock();
    const leadership = new FlippedLeadership();
    let opened: Backend | undefined;
    let electedOn: Backend | undefined;
    const manager = new Manager(
      { clock, logger: silentLogger },
      {
        dataDir: join(dir, 'loops'),
        backend: async () => (opened = SqliteBackend.open(':memory:')),
        leadership: async ({ backend }) => {
          electedOn = backend;
          return leadership;
        },
      },
    );
    await manager.start();
    try {
      assert.ok(opened);
      assert.equal(electedOn, opened, 'the leadership is given the backend the store runs on');
      const store = manager.store;
      assert.equal(store.table('network').by('name', 'ingress')[0]?.ingress, true, 'the built-in ingress network is created on start');
      const tasks = (): number => store.tasks.all().length;
      await store.update((tx) => tx.services.create({ id: newId(), spec: makeServiceSpec({ name: 'web' }), specVersion: 1 }));
      await clock.advance(5_000);
      assert.equal(tasks(), 0, 'a follower runs no orchestrator');

      assert.deepEqual(manager.runningLeaderLoops, []);

      leadership.set('leader');
      for (let i = 0; i < 100 && tasks() === 0; i++) await clock.advance(100);
      assert.ok(tasks() > 0, 'the leader orchestrates');
      assert.deepEqual(manager.runningLeaderLoops, ['orchestrator', 'allocator', 'scheduler', 'node liveness']);

      leadership.set('follower');
      for (let i = 0; i < 100 && manager.runningLeaderLoops.length > 0; i++) await clock.advance(10);
      assert.deepEqual(manager.runningLeaderLoops, [], 'the loops stop on losing leadership');
      const before = tasks();
      await store.update((tx) => {
        const svc = tx.services.byName('web')!;
        tx.services.update({ ...svc, spec: { ...svc.spec, replicas: 3 } });
      });
      await clock.advance(5_000);
      assert.equal(tasks(), before, 'no orchestrator once leadership is lost');

      leadership.set('leader');
      for (let i = 0; i < 100 && store.tasks.all().filter((t) => t.desiredState === 'running').length < 3; i++) await clock.advance(100);
      assert.equal(store.tasks.all().filter((t) => t.desiredState === 'running').length, 3, 'a new term picks up what changed meanwhile');
    } finally {
      await manager.stop();
    }
    assert.equal(leadership.closed, true, 'the leadership is closed on stop');
  });

  void it('refuses to start beside a running manager on the same data dir, before opening a backend', async () => {
    const dataDir = join(dir, 'shared');
    const first = new Manager({ clock: new FakeClock(), logger: silentLogger }, { dataDir, backend: async () => SqliteBackend.open(':memory:') });
    await first.start();
    try {
      let opened = false;
      const second = new Manager(
        { clock: new FakeClock(), logger: silentLogger },
        {
          dataDir,
          backend: async () => {
            opened = true;
            return SqliteBackend.open(':memory:');
          },
        },
      );
      await assert.rejects(second.start(), /another manager is already running with data dir/);
      assert.equal(opened, false);
    } finally {
      await first.stop();
    }
  });
});
