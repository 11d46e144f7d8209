import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Network } from '../../api/network.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeIngressNetwork, makeNetwork, networksReader } from '../../testing/network-fixtures.ts';
import { makeNode, makeService, makeServiceSpec, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { allocate } from './allocate.ts';
import type { AllocationContext, TaskAllocator } from './task-allocator.ts';
import { Allocator } from './allocator.ts';

const port = { target: 80, published: 8080, protocol: 'tcp', mode: 'host' } as const;
const NOW = Date.UTC(2026, 0, 1, 0, 0, 5);

/** The ballot's context for a service on a cluster without networks. */
function ctx(service: Service): AllocationContext {
  return { service, networks: networksReader([]) };
}

void test('allocate: new → pending with the service host ports', () => {
  const svc = makeService({ spec: { endpoint: { ports: [port] } } });
  const t = makeTask({ status: { state: 'new' } });
  const next = allocate(t, ctx(svc), NOW);
  assert.deepEqual(next?.status, { state: 'pending', message: 'allocated', timestamp: new Date(NOW).toISOString() });
  assert.deepEqual(next?.ports, [port]);
});

void test('allocate: nothing to do for tasks not new, not wanted, or of a deleted service', () => {
  const svc = makeService();
  assert.equal(allocate(makeTask({ status: { state: 'pending' } }), ctx(svc), NOW), undefined);
  assert.equal(allocate(makeTask({ status: { state: 'new' }, desiredState: 'shutdown' }), ctx(svc), NOW), undefined);
  assert.equal(allocate(makeTask({ status: { state: 'new' } }), undefined, NOW), undefined);
});

void test('allocate: a task of an older spec keeps its own ports', () => {
  const svc = makeService({ specVersion: 2, spec: { endpoint: { ports: [port] } } });
  const t = makeTask({ specVersion: 1, status: { state: 'new' }, ports: [] });
  assert.deepEqual(allocate(t, ctx(svc), NOW)?.ports, []);
});

void test('allocate: a task of the previous spec gets that spec’s ports', () => {
  const old = makeServiceSpec({ endpoint: { ports: [port] } });
  const svc = makeService({ specVersion: 2, previousSpecVersion: 1, previousSpec: old });
  const t = makeTask({ specVersion: 1, status: { state: 'new' }, ports: [] });
  assert.deepEqual(allocate(t, ctx(svc), NOW)?.ports, [port]);
});

void test('allocate: every allocator signs off, in order, before the task is pending', () => {
  const seen: string[] = [];
  const label = (name: string): TaskAllocator => ({
    name,
    allocate: (task) => {
      seen.push(name);
      return { ok: true, task: { ...task, ports: [...task.ports, { ...port, target: seen.length }] } };
    },
  });
  const next = allocate(makeTask({ status: { state: 'new' }, ports: [] }), ctx(makeService()), NOW, [label('a'), label('b')]);
  assert.deepEqual(seen, ['a', 'b']);
  assert.deepEqual(next?.ports.map((p) => p.target), [1, 2], 'each allocator sees the task as the previous one left it');
  assert.equal(next?.status.state, 'pending');
});

void test('allocate: a refusing allocator keeps the task new with its reason, written once', () => {
  const never: TaskAllocator = { name: 'networks', allocate: () => ({ ok: false, reason: 'network front has no free address' }) };
  const t = makeTask({ status: { state: 'new', message: 'created' } });
  const next = allocate(t, ctx(makeService()), NOW, [never]);
  assert.equal(next?.status.state, 'new');
  assert.equal(next?.status.message, 'cannot allocate networks: network front has no free address');
  assert.equal(next?.status.timestamp, t.status.timestamp, 'the state did not change');
  assert.deepEqual(next?.ports, t.ports, 'nothing allocated');
  assert.equal(next && allocate(next, ctx(makeService()), NOW, [never]), undefined, 'same reason: nothing to write');
});

let clock: FakeClock;
let store: Store;
let alloc: Allocator;

beforeEach(async () => {
  clock = new FakeClock();
  store = await openMemoryStore({ clock, logger: silentLogger });
  alloc = new Allocator({ store, clock, logger: silentLogger });
});

afterEach(async () => {
  await alloc.stop();
  await store.close();
});

async function addTask(overrides: DeepPartial<Task>): Promise<string> {
  const t = makeTask(overrides);
  await store.update((tx) => tx.tasks.create(t));
  return t.id;
}

void test('allocates new tasks found at start and created later', async () => {
  await store.update((tx) =>
    tx.services.create({ id: 'svc-web', spec: makeServiceSpec({ endpoint: { ports: [port] } }), specVersion: 1 }),
  );
  const early = await addTask({ status: { state: 'new' } });
  const stopped = await addTask({ status: { state: 'new' }, desiredState: 'shutdown' });
  await alloc.start();
  await alloc.whenIdle();
  assert.equal(store.tasks.get(early)?.status.state, 'pending');
  assert.deepEqual(store.tasks.get(early)?.ports, [port]);
  assert.equal(store.tasks.get(stopped)?.status.state, 'new', 'not allocated: not wanted running');
  const ids = await Promise.all([1, 2, 3].map((slot) => addTask({ slot, status: { state: 'new' } })));
  await alloc.whenIdle();
  for (const id of ids) assert.equal(store.tasks.get(id)?.status.state, 'pending');
});

void test('a refused task stays new with the reason and is tried again later', async () => {
  await alloc.stop();
  let free = false;
  const networks: TaskAllocator = {
    name: 'networks',
    allocate: (task) => (free ? { ok: true, task } : { ok: false, reason: 'no free address' }),
  };
  alloc = new Allocator({ store, clock, logger: silentLogger }, { allocators: [networks], retryRefusedMs: 500 });
  await store.update((tx) => tx.services.create({ id: 'svc-web', spec: makeServiceSpec(), specVersion: 1 }));
  const id = await addTask({ status: { state: 'new' } });
  await alloc.start();
  await alloc.whenIdle();
  assert.equal(store.tasks.get(id)?.status.state, 'new');
  assert.equal(store.tasks.get(id)?.status.message, 'cannot allocate networks: no free address');
  free = true;
  await clock.advance(500);
  await alloc.whenIdle();
  assert.equal(store.tasks.get(id)?.status.state, 'pending');
});

void test('lifecycle: start twice throws, stop is idempotent', async () => {
  await alloc.start();
  await assert.rejects(alloc.start(), /cannot start/);
  await alloc.stop();
  await alloc.stop();
  assert.equal(alloc.state, 'stopped');
});

void describe('networks', () => {
  const onFront = { taskTemplate: { networks: [{ target: 'front', aliases: ['www'] }] } };

  async function addNetwork(n: Network): Promise<void> {
    const { version: _v, createdAt: _c, updatedAt: _u, ...rest } = n;
    await store.update((tx) => tx.table('network').create(rest));
  }

  async function addNode(id: string): Promise<void> {
    const { version: _v, createdAt: _c, updatedAt: _u, ...rest } = makeNode({ id });
    await store.update((tx) => tx.nodes.create(rest));
  }

  const network = (id: string): Network => store.table('network').get(id) as Network;
  const sliceNodes = (id: string): string[] => network(id).slices.map((s) => s.nodeId).sort();

  /** Moves a task to `assigned` on a node, as the scheduler does. */
  async function assign(taskId: string, nodeId: string): Promise<void> {
    await store.update((tx) => {
      const t = tx.tasks.get(taskId) as Task;
      tx.tasks.update({ ...t, nodeId, status: { ...t.status, state: 'assigned', message: 'scheduled' } });
    });
  }

  void test('a service’s VIPs are written once, in the pass that allocates its tasks, and kept across an update', async () => {
    await addNetwork(makeNetwork({ id: 'net-front', subnet: '10.1.0.0/16', spec: { name: 'front' } }));
    await addNetwork(makeNetwork({ id: 'net-back', subnet: '10.2.0.0/16', spec: { name: 'back' } }));
    await store.update((tx) => tx.services.create({ id: 'svc-web', spec: makeServiceSpec(onFront), specVersion: 1 }));
    const first = await addTask({ spec: makeServiceSpec(onFront).taskTemplate, status: { state: 'new' } });
    await alloc.start();
    await alloc.whenIdle();
    const svc = store.services.get('svc-web') as Service;
    assert.deepEqual(svc.endpointStatus, { specVersion: 1, virtualIps: [{ networkId: 'net-front', addr: '10.1.0.1/16' }] });
    assert.equal(store.tasks.get(first)?.status.state, 'pending', 'allocated in the same pass as the VIPs');
    assert.deepEqual(store.tasks.get(first)?.networks, [{ networkId: 'net-front', name: 'front', aliases: ['www'] }]);

    await addTask({ slot: 2, spec: makeServiceSpec(onFront).taskTemplate, status: { state: 'new' } });
    await alloc.whenIdle();
    assert.equal(store.services.get('svc-web')?.version, svc.version, 'not written again');

    const spec = makeServiceSpec({ taskTemplate: { networks: [{ target: 'back', aliases: [] }, { target: 'front', aliases: [] }] } });
    await store.update((tx) => tx.services.update({ ...svc, spec, specVersion: 2, previousSpec: svc.spec, previousSpecVersion: 1 }));
    await alloc.whenIdle();
    assert.deepEqual(store.services.get('svc-web')?.endpointStatus, {
      specVersion: 2,
      virtualIps: [
        { networkId: 'net-back', addr: '10.2.0.1/16' },
        { networkId: 'net-front', addr: '10.1.0.1/16' },
      ],
    });
  });

  void test('services allocated in one pass get different VIPs; dnsrr gets none', async () => {
    await addNetwork(makeNetwork({ id: 'net-front', subnet: '10.1.0.0/16', spec: { name: 'front' } }));
    await store.update((tx) => {
      tx.services.create({ id: 'svc-a', spec: makeServiceSpec({ ...onFront, name: 'a' }), specVersion: 1 });
      tx.services.create({ id: 'svc-b', spec: makeServiceSpec({ ...onFront, name: 'b' }), specVersion: 1 });
      tx.services.create({ id: 'svc-c', spec: makeServiceSpec({ ...onFront, name: 'c', endpoint: { mode: 'dnsrr' } }), specVersion: 1 });
    });
    await alloc.start();
    await alloc.whenIdle();
    const vips = ['svc-a', 'svc-b'].map((id) => store.services.get(id)?.endpointStatus?.virtualIps[0]?.addr).sort();
    assert.deepEqual(vips, ['10.1.0.1/16', '10.1.0.2/16']);
    assert.deepEqual(store.services.get('svc-c')?.endpointStatus, { specVersion: 1, virtualIps: [] });
  });

  void test('a task on an unknown network waits with the reason and goes on once the network exists', async () => {
    await store.update((tx) => tx.services.create({ id: 'svc-web', spec: makeServiceSpec(onFront), specVersion: 1 }));
    const id = await addTask({ spec: makeServiceSpec(onFront).taskTemplate, status: { state: 'new' } });
    await alloc.start();
    await alloc.whenIdle();
    assert.equal(store.tasks.get(id)?.status.message, 'cannot allocate networks: network front not found');
    assert.equal(store.services.get('svc-web')?.endpointStatus, undefined);
    await addNetwork(makeNetwork({ id: 'net-front', spec: { name: 'front' } }));
    await alloc.whenIdle();
    assert.equal(store.tasks.get(id)?.status.state, 'pending');
    assert.equal(store.services.get('svc-web')?.endpointStatus?.virtualIps.length, 1);
  });

  void test('slices: every node on ingress, a node on a network once a task of it is assigned there, none of a removed node', async () => {
    await addNetwork(makeIngressNetwork());
    await addNetwork(makeNetwork({ id: 'net-front', spec: { name: 'front' } }));
    await addNode('n1');
    await addNode('n2');
    await alloc.start();
    await alloc.whenIdle();
    assert.deepEqual(sliceNodes('net-ingress'), ['n1', 'n2']);
    assert.deepEqual(network('net-ingress').slices.map((s) => s.subnet).sort(), ['10.255.1.0/24', '10.255.2.0/24']);
    assert.deepEqual(sliceNodes('net-front'), [], 'no task on it yet');

    await addNode('n3');
    await alloc.whenIdle();
    assert.deepEqual(sliceNodes('net-ingress'), ['n1', 'n2', 'n3']);

    await store.update((tx) => tx.services.create({ id: 'svc-web', spec: makeServiceSpec(onFront), specVersion: 1 }));
    const id = await addTask({ spec: makeServiceSpec(onFront).taskTemplate, status: { state: 'new' } });
    await alloc.whenIdle();
    assert.equal(store.tasks.get(id)?.status.state, 'pending');
    assert.deepEqual(sliceNodes('net-front'), [], 'pending: no node yet');
    await assign(id, 'n2');
    await alloc.whenIdle();
    assert.deepEqual(network('net-front').slices, [{ nodeId: 'n2', subnet: '10.1.1.0/24' }]);

    await store.update((tx) => tx.nodes.delete('n2'));
    await alloc.whenIdle();
    assert.deepEqual(sliceNodes('net-ingress'), ['n1', 'n3']);
    assert.deepEqual(sliceNodes('net-front'), [], 'the removed node’s slices are free again');
    await addNode('n4');
    await alloc.whenIdle();
    assert.equal(network('net-ingress').slices.find((s) => s.nodeId === 'n4')?.subnet, '10.255.2.0/24', 'the lowest free slice');
  });
});
