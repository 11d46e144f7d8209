import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Task } from '../../api/task.ts';
import { makeNode, makeService, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { excessHistory, historyToKeep, removable } from './history.ts';
import { SimWorld } from '../../testing/sim-world.ts';

const T0 = Date.UTC(2026, 0, 1);
const nodes = new Map([['n1', makeNode({ id: 'n1' })]]);

function deadAt(id: string, minute: number, extra: DeepPartial<Task> = {}): Task {
  return makeTask({
    id,
    nodeId: 'n1',
    desiredState: 'shutdown',
    createdAt: new Date(T0 + minute * 60_000).toISOString(),
    status: { state: 'failed' },
    ...extra,
  });
}

void test('excessHistory keeps the newest dead tasks of a slot', () => {
  const group = [deadAt('a', 1), deadAt('b', 2), deadAt('c', 3), deadAt('d', 4)];
  assert.deepEqual(excessHistory(group, 2, nodes).map((t) => t.id), ['b', 'a']);
  assert.deepEqual(excessHistory(group, 5, nodes), []);
});

void test('the live task and tasks still stopping are never history', () => {
  const group = [
    deadAt('old', 1),
    deadAt('stopping', 2, { status: { state: 'running' } }),
    deadAt('live-dead', 3, { desiredState: 'running' }),
    deadAt('lost', 0, { nodeId: 'gone', status: { state: 'running' } }),
  ];
  assert.deepEqual(excessHistory(group, 1, nodes).map((t) => t.id), ['lost']);
});

void test('history keeps at least one task, and enough to count maxAttempts', () => {
  const p = makeService().spec.taskTemplate.restartPolicy;
  assert.equal(historyToKeep(5, p), 5);
  assert.equal(historyToKeep(0, p), 1);
  assert.equal(historyToKeep(2, { ...p, maxAttempts: 4 }), 4);
});

void test('removable: marked remove and stopped, never started, or on a lost node', () => {
  const tasks = [
    deadAt('stopped', 1, { desiredState: 'remove' }),
    deadAt('running', 1, { desiredState: 'remove', status: { state: 'running' } }),
    deadAt('unassigned', 1, { desiredState: 'remove', status: { state: 'pending' } }),
    deadAt('lost', 1, { desiredState: 'remove', nodeId: 'gone', status: { state: 'running' } }),
    deadAt('history', 1),
  ];
  assert.deepEqual(removable(tasks, nodes).map((t) => t.id), ['stopped', 'unassigned', 'lost']);
});

void test('a crash-looping slot keeps taskHistoryLimit dead tasks', () => {
  const w = new SimWorld(makeService({ spec: { taskTemplate: { restartPolicy: { delayMs: 0 } } } }), T0);
  w.options = { ...w.options, taskHistoryLimit: 3 };
  for (let i = 0; i < 30; i++) {
    const plan = w.step();
    const cur = w.live()[0];
    if (cur?.status.state === 'new') {
      w.now += 10;
      w.report(cur.id, 'failed', { exitCode: 2 });
    } else if (plan.wakeAt !== undefined) {
      w.now = plan.wakeAt;
    }
  }
  w.step();
  const dead = [...w.tasks.values()].filter((t) => t.desiredState === 'shutdown');
  assert.equal(dead.length, 3);
  assert.equal(w.live().length, 1);
});
