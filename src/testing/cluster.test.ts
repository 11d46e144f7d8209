import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Store } from '../store/store.ts';
import { Cluster } from './cluster.ts';

function running(store: Store, serviceId: string): Array<{ id: string; nodeId: string }> {
  return store.tasks
    .byService(serviceId)
    .filter((t) => t.desiredState === 'running' && t.status.state === 'running')
    .map((t) => ({ id: t.id, nodeId: t.nodeId ?? '' }));
}

void describe('in-process cluster', () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.start({ nodes: 3 });
  });
  after(async () => {
    await c.stop();
  });

  void it('registers every node as ready', () => {
    const nodes = c.store.nodes.all();
    assert.equal(nodes.length, 3);
    assert.ok(nodes.every((n) => n.status.state === 'ready' && n.description.drivers.includes('fake')));
  });

  void it('runs 3 replicas on 3 nodes and replaces the tasks of a node whose agent dies', async () => {
    const svc = await c.createService({ name: 'web', replicas: 3 });
    await c.waitFor((s) => running(s, svc.id).length === 3, 60_000, '3 running tasks');
    const before = running(c.store, svc.id);
    assert.equal(new Set(before.map((t) => t.nodeId)).size, 3, 'spread over the three nodes');

    const victim = c.nodes[0]!;
    const lost = before.filter((t) => t.nodeId === victim.id).map((t) => t.id);
    await victim.kill();
    await c.waitFor((s) => s.nodes.get(victim.id)?.status.state === 'down', 60_000, 'the dead node marked down');
    await c.waitFor(
      (s) => {
        const now = running(s, svc.id);
        return now.length === 3 && now.every((t) => t.nodeId !== victim.id);
      },
      10_000,
      '3 running tasks on the surviving nodes',
    );
    for (const id of lost) assert.notEqual(c.store.tasks.get(id)?.desiredState, 'running', 'the lost task is not wanted any more');
  });

  void it('adopts running tasks after an agent restart without starting them again', async () => {
    const svc = c.store.services.byName('web')!;
    const node = c.nodes[1]!;
    const mine = running(c.store, svc.id).filter((t) => t.nodeId === node.id).map((t) => t.id);
    assert.ok(mine.length > 0);
    const pids = mine.map((id) => node.host.processes.get(id)?.pid);
    await node.restart();
    // The restarted agent reports nothing new about them and their processes are the same.
    await c.waitFor((s) => s.nodes.get(node.id)?.status.state === 'ready', 60_000, 'node ready');
    assert.deepEqual(mine.map((id) => node.host.processes.get(id)?.pid), pids);
    assert.deepEqual(mine.map((id) => c.store.tasks.get(id)?.status.state), mine.map(() => 'running'));
    assert.equal(node.agent?.runners.size !== undefined, true);
    for (const id of mine) assert.equal(node.agent?.runners.get(id)?.phase, 'running');
  });

  void it('stops and removes the old tasks when the dead node comes back', async () => {
    const victim = c.nodes[0]!;
    const leftovers = victim.runningTasks();
    assert.ok(leftovers.length > 0, 'the dead agent left its tasks running');
    await victim.start();
    await c.waitFor((s) => s.nodes.get(victim.id)?.status.state === 'ready', 60_000, 'node back');
    await c.waitFor(
      (s) => leftovers.every((id) => victim.runningTasks().indexOf(id) < 0 && ['shutdown', 'orphaned', 'complete', 'failed'].includes(s.tasks.get(id)?.status.state ?? 'shutdown')),
      10_000,
      'leftover tasks stopped',
    );
    assert.deepEqual(victim.runningTasks().filter((id) => leftovers.includes(id)), []);
  });
});
