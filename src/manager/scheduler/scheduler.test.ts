import assert from 'node:assert/strict';
import { after, before, beforeEach, afterEach, describe, it } from 'node:test';
import type { Node } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { CPU, makeNode, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { makeNetwork } from '../../testing/network-fixtures.ts';
import { isSchedulerError, Scheduler } from './scheduler.ts';

/** Resolves once `check()` holds, re-checking after every store change; fails after `ms` of real time. */
function waitUntil(store: Store, check: () => boolean, what: string, ms = 60_000): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unwatch();
      reject(new Error(`timed out waiting until ${what}`));
    }, ms);
    const unwatch = store.watch(() => {
      if (!check()) return;
      clearTimeout(timer);
      unwatch();
      resolve();
    });
  });
}

function strip<T extends { version: number; createdAt: string; updatedAt: string }>(o: T): Omit<T, 'version' | 'createdAt' | 'updatedAt'> {
  const { version: _v, createdAt: _c, updatedAt: _u, ...rest } = o;
  return rest;
}

void describe('Scheduler', () => {
  let clock: FakeClock;
  let store: Store;
  let scheduler: Scheduler;

  async function addNode(overrides: DeepPartial<Node>): Promise<Node> {
    const node = makeNode(overrides);
    return store.update((tx) => tx.nodes.create(strip(node)));
  }

  async function addTasks(n: number, overrides: DeepPartial<Task> = {}): Promise<string[]> {
    const ids: string[] = [];
    await store.batch((b) => {
      for (let i = 0; i < n; i++) {
        const t = makeTask({ slot: i + 1, ...overrides });
        ids.push(t.id);
        b.update((tx) => tx.tasks.create(strip(t)));
      }
    });
    return ids;
  }

  const task = (id: string): Task => store.tasks.get(id) as Task;

  /** Lets the debounce timer fire and the pass commit. */
  async function settlePass(): Promise<void> {
    await clock.advance(250);
  }

  beforeEach(async () => {
    clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
    scheduler = new Scheduler({ store, clock, logger: silentLogger });
  });

  afterEach(async () => {
    await scheduler.stop();
    await store.close();
  });

  void it('assigns pending tasks, spread over the nodes, in one pass', async () => {
    await addNode({ id: 'node-a' });
    await addNode({ id: 'node-b' });
    await scheduler.start();
    const ids = await addTasks(4);
    await addTasks(2, { serviceId: 'other' });
    await settlePass();
    await waitUntil(store, () => ids.every((id) => task(id).status.state === 'assigned'), 'tasks assigned');
    const perNode = new Map<string, number>();
    for (const id of ids) {
      const t = task(id);
      assert.equal(t.status.message, 'scheduled');
      perNode.set(t.nodeId as string, (perNode.get(t.nodeId as string) ?? 0) + 1);
    }
    assert.deepEqual([...perNode.values()], [2, 2]);
    assert.equal(scheduler.stats.passes, 1);
  });

  void it('schedules tasks that were pending before it started', async () => {
    await addNode({ id: 'node-a' });
    const ids = await addTasks(3);
    await scheduler.start();
    await settlePass();
    await waitUntil(store, () => ids.every((id) => task(id).nodeId === 'node-a'), 'tasks assigned');
  });

  void it('leaves an unplaceable task pending with the reason, then places it when a node becomes ready', async () => {
    const node = await addNode({ id: 'node-a', status: { state: 'down' } });
    await scheduler.start();
    const [id] = (await addTasks(1)) as [string];
    await settlePass();
    await waitUntil(store, () => task(id).status.message !== '', 'reason written');
    assert.equal(task(id).status.state, 'pending');
    assert.equal(task(id).status.message, 'no suitable node (1 node not ready)');

    // Another pass with the same result writes nothing.
    const version = task(id).version;
    await addNode({ id: 'node-b', spec: { availability: 'drain' } });
    await settlePass();
    await waitUntil(store, () => task(id).status.message.includes('drained'), 'reason updated');
    const reasonVersion = task(id).version;
    assert.notEqual(reasonVersion, version);
    await store.update((tx) => tx.nodes.update({ ...structuredClone(tx.nodes.get('node-b') as Node), status: { ...(tx.nodes.get('node-b') as Node).status, heartbeatAt: new Date(clock.now()).toISOString() } }));
    await settlePass();
    assert.equal(task(id).version, reasonVersion, 'unchanged reason is not rewritten');

    await store.update((tx) => tx.nodes.update({ ...structuredClone(node), version: (tx.nodes.get('node-a') as Node).version, status: { ...node.status, state: 'ready' } }));
    await settlePass();
    await waitUntil(store, () => task(id).status.state === 'assigned', 'task assigned');
    assert.equal(task(id).nodeId, 'node-a');
  });

  void it('keeps a task on an encrypted network pending on nodes that cannot encrypt, then places it on one that can', async () => {
    const plane = { underlay: '192.168.0.1', mtu: 1500, encryption: 'none' } as const;
    await addNode({ id: 'node-a', description: { network: plane } });
    await addNode({ id: 'node-b', description: { network: plane } });
    const { version: _v, createdAt: _c, updatedAt: _u, ...secnet } = makeNetwork({ id: 'net-sec', spec: { name: 'secnet', encrypted: true } });
    await store.update((tx) => tx.table('network').create(secnet));
    await scheduler.start();
    const [id] = await addTasks(1, { networks: [{ networkId: 'net-sec', name: 'secnet', aliases: [] }] });
    await settlePass();
    const reason = 'no suitable node (2 nodes cannot encrypt network secnet (no kernel IPsec or WireGuard))';
    await waitUntil(store, () => task(id as string).status.message === reason, 'the reason written');
    assert.equal(task(id as string).status.state, 'pending');
    await addNode({ id: 'node-c', description: { network: { ...plane, encryption: 'wireguard' } } });
    await settlePass();
    await waitUntil(store, () => task(id as string).nodeId === 'node-c', 'placed on the node that can encrypt');
  });

  void it('re-plans when a task releases its node', async () => {
    await addNode({ id: 'node-a', description: { resources: { nanoCpus: 2 * CPU } } });
    await scheduler.start();
    const big = { spec: { resources: { reservations: { nanoCpus: 2 * CPU } } } };
    const [first] = (await addTasks(1, big)) as [string];
    await settlePass();
    await waitUntil(store, () => task(first).status.state === 'assigned', 'first assigned');
    const [second] = (await addTasks(1, big)) as [string];
    await settlePass();
    await waitUntil(store, () => task(second).status.message.includes('lacks 2 CPUs'), 'second waits for CPUs');

    await store.update((tx) => {
      const t = tx.tasks.get(first) as Task;
      tx.tasks.update({ ...t, status: { ...t.status, state: 'failed', message: 'exited 1' } });
    });
    await settlePass();
    await waitUntil(store, () => task(second).status.state === 'assigned', 'second assigned');
  });

  void it('places a global task on its node only', async () => {
    await addNode({ id: 'node-a' });
    await addNode({ id: 'node-b' });
    await scheduler.start();
    const [id] = (await addTasks(1, { nodeId: 'node-b' })) as [string];
    await settlePass();
    await waitUntil(store, () => task(id).status.state === 'assigned', 'assigned');
    assert.equal(task(id).nodeId, 'node-b');
  });

  void it('debounces a burst into few passes', async () => {
    await addNode({ id: 'node-a' });
    await scheduler.start();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(...(await addTasks(3, { serviceId: `svc-${i}` })));
      await clock.advance(5);
    }
    assert.equal(scheduler.stats.passes, 0, 'no pass while the burst lasts');
    await settlePass();
    await waitUntil(store, () => ids.every((id) => task(id).status.state === 'assigned'), 'all assigned');
    assert.equal(scheduler.stats.passes, 1);
  });

  void it('refuses to start twice; stop is idempotent', async () => {
    await scheduler.start();
    await assert.rejects(scheduler.start(), (e) => isSchedulerError(e) && e.code === 'already_started');
    await scheduler.stop();
    await scheduler.stop();
  });
});

void describe('Scheduler options', () => {
  let store: Store;
  before(async () => {
    store = await openMemoryStore({ clock: new FakeClock(), logger: silentLogger });
  });
  after(async () => {
    await store.close();
  });
  void it('rejects bad options when constructed', () => {
    assert.throws(
      () => new Scheduler({ store, clock: new FakeClock(), logger: silentLogger }, { debounceMs: -1 }),
      (e) => isSchedulerError(e) && e.code === 'invalid_option',
    );
  });
});
