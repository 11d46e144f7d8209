import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { RestartPolicy } from '../../api/service.ts';
import type { Task, TaskState } from '../../api/task.ts';
import { makeNode, makeService, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { conditionAllows, decideRestart, DEFAULT_RESTART_TUNING, restartDelay } from './restart.ts';
import { SimWorld } from '../../testing/sim-world.ts';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number): string => new Date(T0 + ms).toISOString();
const policy = (p: Partial<RestartPolicy> = {}): RestartPolicy => ({
  condition: 'any',
  delayMs: 5_000,
  maxAttempts: 0,
  windowMs: 0,
  ...p,
});
function dead(state: TaskState, createdMs: number, diedMs: number, extra: DeepPartial<Task> = {}): Task {
  return makeTask({ createdAt: iso(createdMs), status: { state, timestamp: iso(diedMs) }, ...extra });
}

void test('restart conditions', () => {
  const table: Array<[RestartPolicy['condition'], TaskState, number | undefined, boolean]> = [
    ['none', 'failed', 1, false],
    ['none', 'complete', 0, false],
    ['any', 'complete', 0, true],
    ['any', 'failed', 1, true],
    ['on-failure', 'complete', 0, false],
    ['on-failure', 'complete', undefined, false],
    ['on-failure', 'complete', 3, true],
    ['on-failure', 'failed', 1, true],
    ['on-failure', 'rejected', undefined, true],
    ['on-failure', 'orphaned', undefined, true],
    ['on-failure', 'shutdown', undefined, true],
  ];
  for (const [cond, state, exitCode, want] of table) {
    const t = dead(state, 0, 1_000, exitCode === undefined ? {} : { status: { state, timestamp: iso(1_000), message: '', exitCode } });
    assert.equal(conditionAllows(cond, t), want, `${cond} ${state} exit ${exitCode}`);
  }
});

void test('first restart waits delayMs after the death', () => {
  const t = dead('failed', 0, 2_000);
  const d = decideRestart(t, [t], policy(), DEFAULT_RESTART_TUNING);
  assert.deepEqual(d, { restart: true, at: T0 + 7_000, delayMs: 5_000, attempt: 1 });
});

/**
 * A crash loop as the orchestrator writes it: each task after the first is a restart that
 * records the wait chosen before it. Returns the waits chosen after each death.
 */
function crashLoop(p: RestartPolicy, state: TaskState, count: number, livesMs: number): { delays: number[]; history: Task[]; created: number } {
  const history: Task[] = [];
  let created = 0;
  let wait: number | undefined;
  const delays: number[] = [];
  for (let i = 0; i < count; i++) {
    const extra: DeepPartial<Task> = { id: `t${i}`, desiredState: 'running', ...(wait === undefined ? {} : { restartDelayMs: wait }) };
    const t = dead(state, created, created + livesMs, extra);
    const d = decideRestart(t, [...history, t], p, DEFAULT_RESTART_TUNING);
    assert.ok(d.restart);
    wait = d.delayMs;
    delays.push(wait);
    history.push({ ...t, desiredState: 'shutdown' });
    created = created + livesMs + wait;
  }
  return { delays, history, created };
}

void test('quick failures double the wait up to 5 minutes; a long run resets it', () => {
  const p = policy();
  const { delays, created } = crashLoop(p, 'failed', 9, 1_000);
  assert.deepEqual(delays, [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  const longRun = dead('failed', created, created + 60_000, { id: 'long', restartDelayMs: 300_000 });
  assert.equal(restartDelay(longRun, p, DEFAULT_RESTART_TUNING), 5_000);
});

void test('delayMs 0 still backs off a crash loop (rejected image)', () => {
  assert.deepEqual(crashLoop(policy({ delayMs: 0 }), 'rejected', 5, 100).delays, [0, 1_000, 2_000, 4_000, 8_000]);
});

void test('a user delay above the backoff cap is kept', () => {
  const t = dead('failed', 601_000, 602_000, { id: 'b', restartDelayMs: 600_000 });
  assert.equal(restartDelay(t, policy({ delayMs: 600_000 }), DEFAULT_RESTART_TUNING), 600_000);
});

void test('the backoff grows from the recorded wait, not from the gap between tasks', () => {
  const p = policy({ delayMs: 1_000 });
  // The slot's earlier task died long ago; the tasks in between are gone (a task replaced off
  // a lost node is deleted). The newest task was that node-down replacement, not a restart,
  // and died quickly: it waits delayMs, not twice the 25 s gap.
  const earlier = dead('failed', 0, 10_000, { id: 'earlier', desiredState: 'shutdown' });
  const moved = dead('failed', 35_000, 36_000, { id: 'moved' });
  assert.equal(restartDelay(moved, p, DEFAULT_RESTART_TUNING), 1_000);
  assert.deepEqual(decideRestart(moved, [earlier, moved], p, DEFAULT_RESTART_TUNING), {
    restart: true,
    at: T0 + 37_000,
    delayMs: 1_000,
    attempt: 2,
  });
  // A restart created late (the manager was down for a while) doubles the wait it was given.
  const late = dead('failed', 60_000, 61_000, { id: 'late', restartDelayMs: 1_000 });
  assert.equal(restartDelay(late, p, DEFAULT_RESTART_TUNING), 2_000);
});

void test('a task from before restartDelayMs existed counts as not a restart', () => {
  // Written by an earlier version: no field, though it was a quick restart. The backoff resets
  // to delayMs once; the restart that follows records its wait and the doubling goes on.
  const old = dead('failed', 11_000, 12_000, { id: 'old' });
  assert.equal(restartDelay(old, policy(), DEFAULT_RESTART_TUNING), 5_000);
});

void test('maxAttempts counts earlier restarts within the window before this death', () => {
  const p = policy({ maxAttempts: 2, windowMs: 60_000 });
  const a = dead('failed', 0, 1_000, { id: 'a', desiredState: 'shutdown' });
  const b = dead('failed', 10_000, 11_000, { id: 'b', desiredState: 'shutdown' });
  const c = dead('failed', 20_000, 21_000, { id: 'c' });
  assert.deepEqual(decideRestart(c, [a, b, c], p, DEFAULT_RESTART_TUNING), {
    restart: false,
    reason: 'gave up after 2 restart attempts',
  });
  // The same history spread over more than the window: only one earlier restart counts.
  const c2 = dead('failed', 70_000, 71_000, { id: 'c2' });
  const d = decideRestart(c2, [a, b, c2], p, DEFAULT_RESTART_TUNING);
  assert.equal(d.restart, true);
  // A task the orchestrator shut down (update, drain) is not a restart attempt.
  const s = dead('shutdown', 0, 1_000, { id: 's', desiredState: 'shutdown' });
  assert.equal(decideRestart(c, [s, b, c], p, DEFAULT_RESTART_TUNING).restart, true);
  // windowMs 0 counts everything.
  assert.equal(decideRestart(c2, [a, b, c2], policy({ maxAttempts: 2 }), DEFAULT_RESTART_TUNING).restart, false);
});

void test('planService: a failed task is replaced in its slot only after the delay', () => {
  const w = new SimWorld(makeService({ spec: { replicas: 1 } }), T0);
  w.step();
  const [first] = w.live();
  assert.ok(first);
  w.now += 2_000;
  w.report(first.id, 'failed', { exitCode: 1 });
  const waiting = w.step();
  assert.deepEqual(waiting.actions, []);
  assert.equal(waiting.wakeAt, T0 + 7_000);
  w.now = T0 + 7_000;
  const plan = w.step();
  assert.equal(plan.actions.length, 1);
  const [a] = plan.actions;
  assert.equal(a?.kind, 'replace');
  if (a?.kind !== 'replace') return;
  assert.equal(a.old.id, first.id);
  assert.equal(a.task.slot, 1);
  assert.match(a.reason, /restart 1 after the task failed \(exit code 1\)/);
  assert.equal(w.tasks.get(first.id)?.desiredState, 'shutdown');
  assert.equal(w.live().length, 1);
});

void test('planService: condition none leaves the dead task in its slot', () => {
  const w = new SimWorld(makeService({ spec: { taskTemplate: { restartPolicy: { condition: 'none' } } } }), T0);
  w.step();
  const [t] = w.live();
  w.report(t!.id, 'complete', { exitCode: 0 });
  w.now += 3_600_000;
  assert.deepEqual(w.step(), { actions: [], wakeAt: undefined });
});

void test('planService: a rejected task in a global service backs off on its node', () => {
  const w = new SimWorld(makeService({ spec: { mode: 'global', taskTemplate: { restartPolicy: { delayMs: 0 } } } }), T0);
  w.addNode(makeNode({ id: 'n1' }));
  const created: number[] = [];
  for (let i = 0; i < 40 && created.length < 5; i++) {
    const plan = w.step();
    for (const a of plan.actions) if (a.kind === 'create' || a.kind === 'replace') created.push(w.now - T0);
    const cur = w.live()[0];
    if (cur && cur.status.state === 'new') {
      w.now += 100;
      w.report(cur.id, 'rejected', { err: 'no such image' });
    } else if (plan.wakeAt !== undefined) {
      w.now = plan.wakeAt;
    }
  }
  assert.deepEqual(created, [0, 100, 1_200, 3_300, 7_400]);
});

void test('planService: a node-down replacement that dies quickly waits delayMs (its deleted predecessor is no restart gap)', () => {
  const w = new SimWorld(makeService({ spec: { replicas: 1, taskTemplate: { restartPolicy: { delayMs: 1_000 } } } }), T0);
  w.addNode(makeNode({ id: 'n1' }));
  w.addNode(makeNode({ id: 'n2' }));
  const settle = (): void => {
    for (let i = 0; i < 5 && w.step().actions.length > 0; i++);
  };
  settle();
  const first = w.live()[0]!;
  w.report(first.id, 'running', {}, 'n1');
  w.now = T0 + 10_550;
  w.report(first.id, 'failed', { exitCode: 137 });
  settle();
  w.now = T0 + 11_550;
  settle();
  const restarted = w.live()[0]!;
  assert.notEqual(restarted.id, first.id);
  assert.equal(restarted.restartDelayMs, 1_000, 'a restart records the wait chosen before it');
  w.report(restarted.id, 'running', {}, 'n1');

  // n1 is marked down (after a leader change, say): its task is replaced (not a restart) and
  // deleted. The replacement is killed soon after it started.
  w.now = T0 + 35_000;
  w.addNode(makeNode({ id: 'n1', status: { state: 'down' } }));
  settle();
  assert.equal(w.tasks.has(restarted.id), false, 'the task on the lost node is gone');
  const moved = w.live()[0]!;
  assert.equal(moved.restartDelayMs, undefined);
  w.report(moved.id, 'running', {}, 'n2');
  w.now = T0 + 36_000;
  w.report(moved.id, 'failed', { exitCode: 137 });
  // Before the fix: 2 × (35 s − 10.55 s) read from the first task's death.
  assert.equal(w.step().wakeAt, T0 + 37_000, 'delayMs, not twice the gap since the first death');

  // A crash loop from there still doubles.
  w.now = T0 + 37_000;
  settle();
  const again = w.live()[0]!;
  assert.equal(again.restartDelayMs, 1_000);
  w.report(again.id, 'running', {}, 'n2');
  w.now = T0 + 37_500;
  w.report(again.id, 'failed', { exitCode: 137 });
  assert.equal(w.step().wakeAt, T0 + 39_500);
});
