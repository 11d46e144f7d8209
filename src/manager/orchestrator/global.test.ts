import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Task } from '../../api/task.ts';
import { makeNode, makeService, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import type { Action } from './actions.ts';
import { globalFit } from './node-health.ts';
import { SimWorld, summarize } from '../../testing/sim-world.ts';

const T0 = Date.UTC(2026, 0, 1);
const template = makeService().spec.taskTemplate;

function summary(actions: readonly Action[]): string[] {
  return summarize(actions, (t) => `on ${t.nodeId}`);
}

function globalTask(id: string, nodeId: string, extra: DeepPartial<Task> = {}): Task {
  const t = makeTask({ id, nodeId, status: { state: 'running' }, ...extra });
  delete t.slot;
  return t;
}

void test('globalFit: state, availability, constraints and driver', () => {
  assert.deepEqual(globalFit(makeNode(), template), { canRun: true, canStart: true });
  assert.deepEqual(globalFit(makeNode({ spec: { availability: 'pause' } }), template), { canRun: true, canStart: false });
  assert.deepEqual(globalFit(makeNode({ status: { state: 'unknown' } }), template), { canRun: true, canStart: false });
  assert.equal(globalFit(makeNode({ spec: { availability: 'drain' } }), template).canRun, false);
  assert.equal(globalFit(makeNode({ status: { state: 'down' } }), template).canRun, false);
  assert.equal(globalFit(undefined, template).canRun, false);
  assert.equal(globalFit(makeNode({ description: { drivers: ['exec'] } }), template).canRun, false);
  const constrained = { ...template, placement: { ...template.placement, constraints: ['node.labels.zone==east'] } };
  assert.equal(globalFit(makeNode({ spec: { labels: { zone: 'east' } } }), constrained).canStart, true);
  assert.equal(globalFit(makeNode({ spec: { labels: { zone: 'west' } } }), constrained).canRun, false);
});

void test('one task per eligible node, created with the node preset and no slot', () => {
  const w = new SimWorld(makeService({ spec: { mode: 'global', replicas: 1 } }), T0);
  w.addNode(makeNode({ id: 'ready' }));
  w.addNode(makeNode({ id: 'ready2' }));
  w.addNode(makeNode({ id: 'drained', spec: { availability: 'drain' } }));
  w.addNode(makeNode({ id: 'paused', spec: { availability: 'pause' } }));
  w.addNode(makeNode({ id: 'down', status: { state: 'down' } }));
  w.addNode(makeNode({ id: 'unknown', status: { state: 'unknown' } }));
  w.addNode(makeNode({ id: 'exec-only', description: { drivers: ['exec'] } }));
  const plan = w.step();
  assert.deepEqual(summary(plan.actions), ['create on ready', 'create on ready2']);
  for (const a of plan.actions) if (a.kind === 'create') assert.equal(a.task.slot, undefined);
  assert.deepEqual(w.plan().actions, [], 'converged');
});

void test('drained, down, removed or no longer matching nodes get their task shut down, not replaced', () => {
  const svc = makeService({ spec: { mode: 'global', taskTemplate: { placement: { constraints: ['node.labels.gpu==yes'] } } } });
  const w = new SimWorld(svc, T0);
  const labels = { gpu: 'yes' };
  w.addNode(makeNode({ id: 'ok', spec: { labels } }));
  w.addNode(makeNode({ id: 'drained', spec: { availability: 'drain', labels } }));
  w.addNode(makeNode({ id: 'down', spec: { labels }, status: { state: 'down' } }));
  w.addNode(makeNode({ id: 'relabelled', spec: { labels: { gpu: 'no' } } }));
  w.addNode(makeNode({ id: 'paused', spec: { availability: 'pause', labels } }));
  for (const n of ['ok', 'drained', 'down', 'relabelled', 'gone', 'paused']) w.tasks.set(`t-${n}`, globalTask(`t-${n}`, n));
  w.tasks.set('old-gone', globalTask('old-gone', 'gone', { desiredState: 'shutdown', status: { state: 'failed' } }));
  const plan = w.step();
  assert.deepEqual(summary(plan.actions), [
    'delete old-gone',
    'shutdown t-down',
    'shutdown t-drained',
    'shutdown t-gone',
    'shutdown t-relabelled',
  ]);
  // Once the drained node is active again it gets a new task (after the old one stopped).
  w.report('t-drained', 'shutdown');
  w.nodes.set('drained', makeNode({ id: 'drained', spec: { labels } }));
  assert.deepEqual(summary(w.step().actions), ['create on drained', 'delete t-gone']);
});

void test('a global task of an outdated spec is replaced on its node after it stopped', () => {
  const w = new SimWorld(makeService({ specVersion: 2, spec: { mode: 'global', taskTemplate: { container: { env: ['A=2'] } } } }), T0);
  w.addNode(makeNode({ id: 'n1' }));
  w.tasks.set('a', globalTask('a', 'n1'));
  assert.deepEqual(summary(w.step().actions), ['shutdown a', 'status updating']);
  assert.deepEqual(w.plan().actions, []);
  w.report('a', 'shutdown');
  assert.deepEqual(summary(w.step().actions), ['create on n1']);
});

void test('a dead global task on a paused node waits for the node to be active again', () => {
  const w = new SimWorld(makeService({ spec: { mode: 'global' } }), T0);
  w.addNode(makeNode({ id: 'n1', spec: { availability: 'pause' } }));
  w.tasks.set('a', globalTask('a', 'n1', { status: { state: 'failed', timestamp: new Date(T0).toISOString() } }));
  w.now += 60_000;
  assert.deepEqual(w.plan().actions, []);
  w.nodes.set('n1', makeNode({ id: 'n1' }));
  assert.deepEqual(summary(w.plan().actions), ['replace a on n1']);
});
