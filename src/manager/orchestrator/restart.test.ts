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

void test('quick failures double the wait up to 5 minutes; a long run resets it', () => {
  const p = policy();
  const history: Task[] = [];
  let created = 0;
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t = dead('failed', created, created + 1_000, { id: `t${i}`, desiredState: 'running' });
    const d = restartDelay(t, [...history, t], p, DEFAULT_RESTART_TUNING);
    delays.push(d);
    history.push({ ...t, desiredState: 'shutdown' });
    created = created + 1_000 + d;
  }
  assert.deepEqual(delays, [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  const longRun = dead('failed', created, created + 60_000, { id: 'long' });
  assert.equal(restartDelay(longRun, [...history, longRun], p, DEFAULT_RESTART_TUNING), 5_000);
});

void test('delayMs 0 still backs off a crash loop (rejected image)', () => {
  const p = policy({ delayMs: 0 });
  const history: Task[] = [];
  let created = 0;
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = dead('rejected', created, created + 100, { id: `t${i}` });
    const d = restartDelay(t, [...history, t], p, DEFAULT_RESTART_TUNING);
    delays.push(d);
    history.push({ ...t, desiredState: 'shutdown' });
    created = created + 100 + d;
  }
  assert.deepEqual(delays, [0, 1_000, 2_000, 4_000, 8_000]);
});

void test('a user delay above the backoff cap is kept', () => {
  const prev = dead('failed', 0, 1_000, { id: 'a', desiredState: 'shutdown' });
  const t = dead('failed', 601_000, 602_000, { id: 'b' });
  assert.equal(restartDelay(t, [prev, t], policy({ delayMs: 600_000 }), DEFAULT_RESTART_TUNING), 600_000);
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
