import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlotillaClient } from '../client/client.ts';
import { systemClock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import { silentLogger } from '../lib/logger.ts';
import { EtcdBackend } from '../store/etcd/etcd-backend.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../testing/etcd-server.ts';
import { makeServiceSpec } from '../testing/fixtures.ts';
import { etcdLeadership } from './etcd-leadership.ts';
import { Manager } from './manager.ts';

/** Only catches hangs. */
const HANG_MS = 60_000;

/** Waits until `cond` holds, checking every 50 ms; fails after HANG_MS naming `what`. */
async function waitFor(what: string, cond: () => boolean, state: () => unknown = () => undefined): Promise<void> {
  const deadline = Date.now() + HANG_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(state())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const LOOPS = ['orchestrator', 'allocator', 'scheduler', 'node liveness'];

void describe('Managers sharing an etcd', { skip: skipUnlessEtcd() }, () => {
  let etcd: EtcdTestCluster;
  let dir: string;
  before(async () => {
    [etcd, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'flotilla-manager-ha-'))]);
  });
  after(async () => {
    await etcd.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('only one runs the leader loops; stopping it hands them to the other; members() is right on each', async () => {
    const root = `/flotilla-ha-test/${randomUUID()}`;
    const make = (name: string): Manager =>
      new Manager(
        { clock: systemClock, logger: silentLogger },
        {
          dataDir: join(dir, name),
          localNodeId: `node-${name}`,
          backend: async ({ clock }) => EtcdBackend.open({ endpoints: etcd.endpoints, root, clock }),
          leadership: etcdLeadership,
        },
      );
    const a = make('a');
    const b = make('b');
    let stopped = false;
    try {
      await a.start();
      // The second manager shares the first one's key-encryption key (what the manager join
      // token brings a joining manager; not this test's subject).
      await mkdir(join(dir, 'b'), { recursive: true, mode: 0o700 });
      await copyFile(join(dir, 'a', 'kek.key'), join(dir, 'b', 'kek.key'));
      await b.start();
      const both = [a, b];
      const view = (): unknown => both.map((m) => ({ loops: m.runningLeaderLoops, members: m.leadership.members() }));
      await waitFor(
        'one manager running the leader loops, both listing both',
        () =>
          both.filter((m) => m.runningLeaderLoops.length > 0).length === 1 &&
          both.every((m) => m.leadership.members().length === 2 && m.leadership.members().filter((x) => x.leader).length === 1),
        view,
      );
      const leader = both.find((m) => m.runningLeaderLoops.length > 0)!;
      const follower = both.find((m) => m !== leader)!;
      assert.deepEqual(leader.runningLeaderLoops, LOOPS);
      assert.deepEqual(follower.runningLeaderLoops, []);
      assert.equal(follower.leadership.state, 'follower');
      const ids = { a: (await readFile(join(dir, 'a', 'manager-id'), 'utf8')).trim(), b: (await readFile(join(dir, 'b', 'manager-id'), 'utf8')).trim() };
      const leaderId = leader === a ? ids.a : ids.b;
      for (const m of both) {
        assert.deepEqual(
          m.leadership.members().map((x) => ({ id: x.id, nodeId: x.nodeId, leader: x.leader })),
          [
            { id: ids.a, nodeId: 'node-a', leader: ids.a === leaderId },
            { id: ids.b, nodeId: 'node-b', leader: ids.b === leaderId },
          ].sort((x, y) => (x.id < y.id ? -1 : 1)),
        );
      }

      // The follower serves the API: its write goes through etcd, the leader's loops act on it.
      const client = new FlotillaClient({ socketPath: follower.socketPath });
      const managers = await client.listManagers();
      assert.deepEqual(managers.managers.filter((m) => m.leader).map((m) => m.id), [leaderId]);
      await follower.store.update((tx) => tx.services.create({ id: newId(), spec: makeServiceSpec({ name: 'web' }), specVersion: 1 }));
      await waitFor('the leader to create the service’s tasks, seen by the follower', () => follower.store.tasks.all().length > 0);

      await leader.stop();
      if (leader === a) stopped = true;
      await waitFor('the other manager to take over', () => follower.runningLeaderLoops.length === LOOPS.length, view);
      assert.deepEqual(follower.leadership.members().map((m) => ({ id: m.id, leader: m.leader })), [{ id: follower === a ? ids.a : ids.b, leader: true }]);
    } finally {
      await Promise.all([stopped ? undefined : a.stop(), b.stop()]);
    }
  });
});
