import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { makeNode, makeService, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import type { Action } from './actions.ts';
import { chooseSlots } from './replicated.ts';
import { SimWorld, summarize } from '../../testing/sim-world.ts';

const T0 = Date.UTC(2026, 0, 1);

function summary(actions: readonly Action[]): string[] {
  return summarize(actions, (t) => `slot ${t.slot}`);
}

function running(id: string, slot: number, extra: DeepPartial<Task> = {}): Task {
  return makeTask({ id, slot, nodeId: 'n1', status: { state: 'running' }, ...extra });
}

function world(service: Service, tasks: Task[] = []): SimWorld {
  const w = new SimWorld(service, T0);
  w.addNode(makeNode({ id: 'n1' }));
  w.addNode(makeNode({ id: 'n2' }));
  for (const t of tasks) w.tasks.set(t.id, t);
  return w;
}

void test('chooseSlots keeps the lowest occupied slots and fills the lowest free numbers', () => {
  assert.deepEqual(chooseSlots([], 3), { keep: [], fill: [1, 2, 3] });
  assert.deepEqual(chooseSlots([5, 1, 2], 3), { keep: [1, 2, 5], fill: [] });
  assert.deepEqual(chooseSlots([5, 1, 2], 2), { keep: [1, 2], fill: [] });
  assert.deepEqual(chooseSlots([2, 4], 4), { keep: [2, 4], fill: [1, 3] });
  assert.deepEqual(chooseSlots([1, 2], 0), { keep: [], fill: [] });
});

void test('a new service gets one new task per slot, built from its spec', () => {
  const svc = makeService({
    specVersion: 3,
    spec: { replicas: 3, endpoint: { ports: [{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }] } },
  });
  const w = world(svc);
  const plan = w.plan();
  assert.deepEqual(summary(plan.actions), ['create slot 1', 'create slot 2', 'create slot 3']);
  const a = plan.actions[0];
  assert.ok(a?.kind === 'create');
  assert.equal(a.task.serviceId, svc.id);
  assert.equal(a.task.serviceName, 'web');
  assert.equal(a.task.specVersion, 3);
  assert.equal(a.task.desiredState, 'running');
  assert.deepEqual(a.task.status, { state: 'new', message: 'created', timestamp: new Date(T0).toISOString() });
  assert.deepEqual(a.task.ports, [], 'bare: the allocator gives a task its published ports');
  assert.deepEqual(a.task.spec, svc.spec.taskTemplate);
  assert.notEqual(a.task.spec, svc.spec.taskTemplate, 'the template is copied');
  assert.equal(a.task.nodeId, undefined);
  w.apply(plan);
  assert.deepEqual(w.plan().actions, [], 'converged');
});

void test('scale down removes the highest slots; unstarted tasks are deleted at once', () => {
  const svc = makeService({ spec: { replicas: 1 } });
  const w = world(svc, [
    running('a', 1),
    running('b', 2),
    makeTask({ id: 'c', slot: 3, status: { state: 'pending' } }),
  ]);
  assert.deepEqual(summary(w.plan().actions), ['delete c', 'remove b']);
});

void test('tasks marked remove are deleted once stopped; retired slots lose their history', () => {
  const svc = makeService({ spec: { replicas: 1 } });
  const w = world(svc, [
    running('a', 1),
    makeTask({ id: 'b', slot: 2, nodeId: 'n1', desiredState: 'remove', status: { state: 'running' } }),
    makeTask({ id: 'b-old', slot: 2, nodeId: 'n1', desiredState: 'shutdown', status: { state: 'failed' } }),
  ]);
  assert.deepEqual(summary(w.plan().actions), ['delete b-old']);
  w.step();
  w.report('b', 'shutdown');
  assert.deepEqual(summary(w.plan().actions), ['delete b']);
});

void test('scaling up reuses free slot numbers without disturbing occupied ones', () => {
  const svc = makeService({ spec: { replicas: 4 } });
  const w = world(svc, [running('a', 2), running('b', 5)]);
  assert.deepEqual(summary(w.plan().actions), ['create slot 1', 'create slot 3']);
});

void test('drained and down nodes: tasks are replaced in their slot, unassigned; pause keeps them', () => {
  const svc = makeService({ spec: { replicas: 4 } });
  const w = world(svc, [
    running('a', 1, { nodeId: 'drained' }),
    running('b', 2, { nodeId: 'down' }),
    running('c', 3, { nodeId: 'paused' }),
    running('d', 4, { nodeId: 'gone' }),
  ]);
  w.addNode(makeNode({ id: 'drained', spec: { availability: 'drain' } }));
  w.addNode(makeNode({ id: 'down', status: { state: 'down' } }));
  w.addNode(makeNode({ id: 'paused', spec: { availability: 'pause' } }));
  const plan = w.plan();
  assert.deepEqual(summary(plan.actions), ['replace a slot 1', 'replace b slot 2', 'replace d slot 4']);
  const reasons = plan.actions.map((a) => a.reason).sort();
  assert.deepEqual(reasons, ['node down', 'node drained', 'node removed']);
  for (const a of plan.actions) if (a.kind === 'replace') assert.equal(a.task.nodeId, undefined);
  // Lost nodes (down, gone) give their tasks up for removal; a drained node keeps history.
  const oldDesired = Object.fromEntries(plan.actions.map((a) => (a.kind === 'replace' ? [a.old.id, a.oldDesired] : [])));
  assert.deepEqual(oldDesired, { a: 'shutdown', b: 'remove', d: 'remove' });
  w.apply(plan);
  assert.equal(w.tasks.get('a')?.desiredState, 'shutdown');
  const next = w.plan().actions;
  assert.deepEqual(next.map((a) => `${a.kind} ${'task' in a && a.kind === 'delete' ? a.task.id : ''}`).sort(), ['delete b', 'delete d']);
});

void test('spec change: stop-first, all at once; the new task comes once the old one stopped', () => {
  const svc = makeService({ specVersion: 2, spec: { replicas: 3, updateConfig: { parallelism: 0 }, taskTemplate: { container: { env: ['A=2'] } } } });
  const w = world(svc, [
    running('a', 1),
    running('b', 2),
    makeTask({ id: 'c', slot: 3, status: { state: 'pending' } }),
  ]);
  const plan = w.step();
  assert.deepEqual(summary(plan.actions), ['replace c slot 3', 'shutdown a', 'shutdown b', 'status updating']);
  assert.deepEqual(summary(w.plan().actions), [], 'waits while a and b stop');
  w.report('a', 'shutdown');
  const next = w.step();
  assert.deepEqual(summary(next.actions), ['create slot 1']);
  for (const a of next.actions) if (a.kind === 'create') assert.equal(a.task.specVersion, 2);
});

void test('spec change replaces a dead task at once, without the restart delay', () => {
  const svc = makeService({ specVersion: 2 });
  const w = world(svc, [running('a', 1, { status: { state: 'failed', timestamp: new Date(T0).toISOString() } })]);
  assert.deepEqual(summary(w.plan().actions), ['replace a slot 1']);
});

void test('a live task of an older version that runs the current spec is stamped, not replaced', () => {
  const svc = makeService({ specVersion: 3, spec: { replicas: 2 } });
  const w = world(svc, [running('a', 1, { specVersion: 1 }), makeTask({ id: 'b', slot: 2, specVersion: 1, status: { state: 'new' } })]);
  const plan = w.step();
  assert.deepEqual(summary(plan.actions), ['adopt a', 'replace b slot 2', 'status updating']);
  assert.equal(w.tasks.get('a')?.specVersion, 3);
});

void test('a deleted service: live tasks marked remove, dead or unstarted ones deleted', () => {
  const w = world(makeService(), [
    running('a', 1),
    makeTask({ id: 'b', slot: 2, status: { state: 'new' } }),
    makeTask({ id: 'c', slot: 1, desiredState: 'shutdown', status: { state: 'failed' } }),
    running('d', 3, { nodeId: 'lost' }),
  ]);
  w.service = undefined;
  assert.deepEqual(summary(w.plan().actions), ['delete b', 'delete c', 'delete d', 'remove a']);
  w.step();
  assert.deepEqual(w.plan().actions, []);
  w.report('a', 'shutdown');
  assert.deepEqual(summary(w.step().actions), ['delete a']);
  assert.equal(w.tasks.size, 0);
});

void test('two live tasks in one slot: the running one stays', () => {
  const w = world(makeService(), [
    running('a', 1),
    running('b', 1, { status: { state: 'failed' } }),
  ]);
  assert.deepEqual(summary(w.plan().actions), ['shutdown b']);
});

void test('tasks without a slot (mode changed) are removed', () => {
  const stray = makeTask({ id: 's', nodeId: 'n1', status: { state: 'running' } });
  delete stray.slot;
  const w = world(makeService(), [running('a', 1), stray]);
  assert.deepEqual(summary(w.plan().actions), ['remove s']);
});
