import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';
import type { Node } from '../../api/node.ts';
import type { ServiceSpec } from '../../api/service.ts';
import type { Task, TaskState } from '../../api/task.ts';
import { newId } from '../../lib/ids.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeNode, makeServiceSpec, type DeepPartial } from '../../testing/fixtures.ts';
import { Orchestrator } from './orchestrator.ts';

let clock: FakeClock;
let store: Store;
let orch: Orchestrator;

beforeEach(async () => {
  clock = new FakeClock();
  store = await openMemoryStore({ clock, logger: silentLogger });
  orch = new Orchestrator({ store, clock, logger: silentLogger });
});

afterEach(async () => {
  await orch.stop();
  await store.close();
});

async function createService(spec: DeepPartial<ServiceSpec>): Promise<string> {
  const id = newId();
  await store.update((tx) => tx.services.create({ id, spec: makeServiceSpec(spec), specVersion: 1 }));
  return id;
}

async function updateService(id: string, change: (spec: ServiceSpec) => void): Promise<void> {
  await store.update((tx) => {
    const s = structuredClone(tx.services.get(id)!);
    change(s.spec);
    tx.services.update({ ...s, specVersion: s.specVersion + 1 });
  });
}

async function addNode(overrides: DeepPartial<Node> = {}): Promise<string> {
  const n = makeNode(overrides);
  await store.update((tx) => tx.nodes.create(n));
  return n.id;
}

async function patchNode(id: string, change: (n: Node) => void): Promise<void> {
  await store.update((tx) => {
    const n = structuredClone(tx.nodes.get(id)!);
    change(n);
    tx.nodes.update(n);
  });
}

/** Plays the scheduler and the agent: moves a task to a state (on a node). */
async function report(id: string, state: TaskState, extra: { nodeId?: string; exitCode?: number } = {}): Promise<void> {
  await store.update((tx) => {
    const t = structuredClone(tx.tasks.get(id)!);
    t.status = { ...t.status, state, message: state, timestamp: new Date(clock.now()).toISOString() };
    if (extra.exitCode !== undefined) t.status.exitCode = extra.exitCode;
    if (extra.nodeId !== undefined) t.nodeId = extra.nodeId;
    tx.tasks.update(t);
  });
}

const tasksOf = (serviceId: string): Task[] => store.tasks.byService(serviceId);
const live = (serviceId: string): Task[] => tasksOf(serviceId).filter((t) => t.desiredState === 'running');

/** Runs every live task of the service on `nodeId`, as scheduler and agent would. */
async function runAll(serviceId: string, nodeId: string): Promise<void> {
  for (const t of live(serviceId)) if (t.status.state !== 'running') await report(t.id, 'running', { nodeId });
  await orch.whenIdle();
}

void test('creates one new task per replica and keeps it so', async () => {
  const svc = await createService({ replicas: 3 });
  await orch.start();
  await orch.whenIdle();
  const tasks = tasksOf(svc);
  assert.equal(tasks.length, 3);
  assert.deepEqual(tasks.map((t) => t.slot).sort(), [1, 2, 3]);
  for (const t of tasks) {
    assert.equal(t.status.state, 'new');
    assert.equal(t.desiredState, 'running');
    assert.equal(t.specVersion, 1);
  }
  await updateService(svc, (s) => (s.replicas = 5));
  await orch.whenIdle();
  assert.equal(live(svc).length, 5);
});

void test('scale down removes the highest slots; removed tasks are deleted once stopped', async () => {
  const node = await addNode();
  const svc = await createService({ replicas: 3 });
  await orch.start();
  await orch.whenIdle();
  await runAll(svc, node);
  await updateService(svc, (s) => (s.replicas = 1));
  await orch.whenIdle();
  const removing = tasksOf(svc).filter((t) => t.desiredState === 'remove');
  assert.deepEqual(removing.map((t) => t.slot).sort(), [2, 3]);
  for (const t of removing) await report(t.id, 'shutdown');
  await orch.whenIdle();
  assert.deepEqual(tasksOf(svc).map((t) => t.slot), [1]);
});

void test('a failed task is replaced in its slot after the restart delay, with backoff', async () => {
  const node = await addNode();
  const svc = await createService({ replicas: 1, taskTemplate: { restartPolicy: { delayMs: 5_000 } } });
  await orch.start();
  await orch.whenIdle();
  await runAll(svc, node);
  const [first] = live(svc);
  await report(first!.id, 'failed', { exitCode: 1 });
  await orch.whenIdle();
  assert.equal(tasksOf(svc).length, 1, 'no replacement before the delay');
  await clock.advance(4_999);
  await orch.whenIdle();
  assert.equal(tasksOf(svc).length, 1);
  await clock.advance(1);
  await orch.whenIdle();
  const second = live(svc)[0]!;
  assert.notEqual(second.id, first!.id);
  assert.equal(second.slot, 1);
  assert.equal(store.tasks.get(first!.id)?.desiredState, 'shutdown');
  assert.equal(second.restartDelayMs, 5_000, 'the restart records the wait before it');
  assert.equal(first!.restartDelayMs, undefined, 'the first task was no restart');

  // It fails quickly again: the next wait doubles (10 s).
  await runAll(svc, node);
  await report(second.id, 'failed', { exitCode: 1 });
  await orch.whenIdle();
  await clock.advance(9_999);
  await orch.whenIdle();
  assert.equal(live(svc)[0]?.id, second.id);
  await clock.advance(1);
  await orch.whenIdle();
  assert.notEqual(live(svc)[0]?.id, second.id);
});

void test('restart delays survive a manager restart (derived from task history)', async () => {
  const node = await addNode();
  const svc = await createService({ replicas: 1, taskTemplate: { restartPolicy: { delayMs: 5_000 } } });
  await orch.start();
  await orch.whenIdle();
  await runAll(svc, node);
  const [first] = live(svc);
  await report(first!.id, 'rejected');
  await orch.whenIdle();
  await orch.stop();
  await clock.advance(3_000);
  orch = new Orchestrator({ store, clock, logger: silentLogger });
  await orch.start();
  await orch.whenIdle();
  assert.equal(tasksOf(svc).length, 1, 'the new orchestrator still waits');
  await clock.advance(2_000);
  await orch.whenIdle();
  assert.equal(tasksOf(svc).length, 2);
});

void test('restart condition none and maxAttempts stop restarting', async () => {
  const node = await addNode();
  const none = await createService({ name: 'once', taskTemplate: { restartPolicy: { condition: 'none' } } });
  const limited = await createService({ name: 'twice', taskTemplate: { restartPolicy: { delayMs: 0, maxAttempts: 2 } } });
  await orch.start();
  await orch.whenIdle();
  for (let i = 0; i < 4; i++) {
    for (const svc of [none, limited]) {
      await runAll(svc, node);
      const cur = live(svc)[0]!;
      if (cur.status.state === 'running') await report(cur.id, 'failed', { exitCode: 3 });
    }
    await orch.whenIdle();
    await clock.advance(60_000);
    await orch.whenIdle();
  }
  assert.equal(tasksOf(none).length, 1);
  assert.equal(tasksOf(limited).length, 3, 'first run and two restarts');
  assert.equal(live(limited)[0]?.status.state, 'failed');
});

void test('draining a node replaces its tasks in the same slots; pause does not', async () => {
  const a = await addNode();
  const svc = await createService({ replicas: 2 });
  await orch.start();
  await orch.whenIdle();
  await runAll(svc, a);
  const before = live(svc).map((t) => t.id);
  await patchNode(a, (n) => (n.spec.availability = 'pause'));
  await orch.whenIdle();
  assert.deepEqual(live(svc).map((t) => t.id), before);
  await patchNode(a, (n) => (n.spec.availability = 'drain'));
  await orch.whenIdle();
  const now = live(svc);
  assert.equal(now.length, 2);
  for (const t of now) {
    assert.ok(!before.includes(t.id));
    assert.equal(t.nodeId, undefined, 'unassigned: the scheduler places it elsewhere');
  }
  assert.deepEqual(now.map((t) => t.slot).sort(), [1, 2]);
  for (const id of before) assert.equal(store.tasks.get(id)?.desiredState, 'shutdown');
});

void test('a node marked down gets its tasks replaced at once, and the lost tasks are dropped', async () => {
  const a = await addNode();
  const svc = await createService({ replicas: 1 });
  await orch.start();
  await orch.whenIdle();
  await runAll(svc, a);
  const [old] = live(svc);
  await patchNode(a, (n) => (n.status.state = 'down'));
  await orch.whenIdle();
  const [replacement] = live(svc);
  assert.notEqual(replacement?.id, old!.id);
  assert.equal(replacement?.slot, old!.slot, 'the replacement takes the same slot');
  // Not kept as history: when the node returns, its agent finds the task unassigned and
  // removes the container, so the cluster holds exactly the desired count.
  assert.equal(store.tasks.get(old!.id), undefined);
});

void test('deleting a service removes and reaps its tasks', async () => {
  const node = await addNode();
  const svc = await createService({ replicas: 2 });
  await orch.start();
  await orch.whenIdle();
  await runAll(svc, node);
  await store.update((tx) => tx.services.delete(svc));
  await orch.whenIdle();
  const tasks = tasksOf(svc);
  assert.equal(tasks.length, 2);
  for (const t of tasks) assert.equal(t.desiredState, 'remove');
  for (const t of tasks) await report(t.id, 'shutdown');
  await orch.whenIdle();
  assert.equal(tasksOf(svc).length, 0);
});

void test('a spec update replaces tasks stop-first (parallelism 0: all at once)', async () => {
  const node = await addNode();
  const svc = await createService({ replicas: 2, updateConfig: { parallelism: 0 } });
  await orch.start();
  await orch.whenIdle();
  await runAll(svc, node);
  await updateService(svc, (s) => (s.taskTemplate.container.env = ['A=1']));
  await orch.whenIdle();
  assert.equal(live(svc).length, 0, 'old tasks stopping, new ones wait');
  for (const t of tasksOf(svc)) await report(t.id, 'shutdown');
  await orch.whenIdle();
  const fresh = live(svc);
  assert.equal(fresh.length, 2);
  for (const t of fresh) {
    assert.equal(t.specVersion, 2);
    assert.deepEqual(t.spec.container.env, ['A=1']);
  }
});

void test('global service: one task per eligible node, following the nodes', async () => {
  const a = await addNode();
  const svc = await createService({ mode: 'global' });
  await orch.start();
  await orch.whenIdle();
  assert.deepEqual(live(svc).map((t) => t.nodeId), [a]);
  const b = await addNode();
  await addNode({ spec: { availability: 'drain' } });
  await orch.whenIdle();
  assert.deepEqual(live(svc).map((t) => t.nodeId).sort(), [a, b].sort());
  for (const t of live(svc)) await report(t.id, 'running');
  await patchNode(b, (n) => (n.spec.availability = 'drain'));
  await orch.whenIdle();
  assert.deepEqual(live(svc).map((t) => t.nodeId), [a]);
  const onB = tasksOf(svc).find((t) => t.nodeId === b)!;
  assert.equal(onB.desiredState, 'shutdown');
  await report(onB.id, 'shutdown');
  await patchNode(b, (n) => (n.spec.availability = 'active'));
  await orch.whenIdle();
  assert.deepEqual(live(svc).map((t) => t.nodeId).sort(), [a, b].sort());
});

void test('history is trimmed to taskHistoryLimit per slot', async () => {
  orch = new Orchestrator({ store, clock, logger: silentLogger }, { taskHistoryLimit: 2 });
  const node = await addNode();
  const svc = await createService({ taskTemplate: { restartPolicy: { delayMs: 0 } } });
  await orch.start();
  await orch.whenIdle();
  for (let i = 0; i < 6; i++) {
    await runAll(svc, node);
    await report(live(svc)[0]!.id, 'failed', { exitCode: 1 });
    await orch.whenIdle();
    await clock.advance(300_000);
    await orch.whenIdle();
  }
  assert.equal(tasksOf(svc).filter((t) => t.desiredState === 'shutdown').length, 2);
  assert.equal(live(svc).length, 1);
});

void test('lifecycle: start twice throws, stop is idempotent', async () => {
  await orch.start();
  await assert.rejects(orch.start(), /cannot start/);
  await orch.stop();
  await orch.stop();
  assert.equal(orch.state, 'stopped');
});
