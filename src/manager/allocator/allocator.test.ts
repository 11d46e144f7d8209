import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { networksReader } from '../../testing/network-fixtures.ts';
import { makeService, makeServiceSpec, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
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
