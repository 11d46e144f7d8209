import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jobProgress, jobTarget } from '../../api/job.ts';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { makeNode, makeService, makeServiceSpec, type DeepPartial } from '../../testing/fixtures.ts';
import { SimWorld } from '../../testing/sim-world.ts';

const T0 = Date.UTC(2026, 0, 1);

function job(spec: DeepPartial<Service['spec']>, extra: DeepPartial<Service> = {}): Service {
  return makeService({ spec: { name: 'migrate', mode: 'replicated-job', ...spec }, ...extra });
}

function world(service: Service, nodes = ['n1', 'n2']): SimWorld {
  const w = new SimWorld(service, T0);
  for (const id of nodes) w.addNode(makeNode({ id }));
  return w;
}

/** Live tasks of the current run that have not ended, by slot (or node). */
function active(w: SimWorld): string[] {
  return w
    .live()
    .filter((t) => !['complete', 'failed', 'rejected', 'shutdown', 'orphaned'].includes(t.status.state))
    .map((t) => (t.slot !== undefined ? `slot ${t.slot}` : `node ${t.nodeId}`))
    .sort();
}

function activeTasks(w: SimWorld): Task[] {
  return w.live().filter((t) => !['complete', 'failed', 'rejected', 'shutdown', 'orphaned'].includes(t.status.state));
}

/** Every active task starts running, then ends with `exitCode`. */
function runAll(w: SimWorld, exitCode: number): void {
  for (const t of activeTasks(w)) {
    w.report(t.id, 'running', {}, t.nodeId ?? 'n1');
    w.report(t.id, exitCode === 0 ? 'complete' : 'failed', { exitCode });
  }
}

void test('job options default: maxConcurrent = replicas, totalCompletions = maxConcurrent', () => {
  assert.deepEqual(jobTarget(makeServiceSpec({ mode: 'replicated-job', replicas: 3 })), { maxConcurrent: 3, totalCompletions: 3 });
  assert.deepEqual(jobTarget(makeServiceSpec({ mode: 'replicated-job', replicas: 3, job: { maxConcurrent: 2 } })), {
    maxConcurrent: 2,
    totalCompletions: 2,
  });
  assert.deepEqual(jobTarget(makeServiceSpec({ mode: 'replicated-job', job: { maxConcurrent: 2, totalCompletions: 5 } })), {
    maxConcurrent: 2,
    totalCompletions: 5,
  });
});

void test('a replicated job runs totalCompletions tasks, at most maxConcurrent at once, then stops', () => {
  const w = world(job({ job: { maxConcurrent: 2, totalCompletions: 5 } }));
  w.step();
  assert.deepEqual(active(w), ['slot 1', 'slot 2']);
  runAll(w, 0);
  w.step();
  assert.deepEqual(active(w), ['slot 3', 'slot 4']);
  // One finishes: exactly one more starts (the concurrency limit holds).
  const [first] = activeTasks(w);
  w.report(first!.id, 'running', {}, 'n1');
  w.report(first!.id, 'complete', { exitCode: 0 });
  w.step();
  assert.deepEqual(active(w), ['slot 4', 'slot 5']);
  assert.equal(jobProgress(w.service!, [...w.tasks.values()]).done, false);
  runAll(w, 0);
  const after = w.step();
  assert.deepEqual(after.actions, [], 'nothing left to do once every completion succeeded');
  assert.equal(after.wakeAt, undefined);
  const p = jobProgress(w.service!, [...w.tasks.values()]);
  assert.deepEqual(p, { completed: 5, wanted: 5, active: 0, failed: 0, done: true });
  // Completed tasks are never restarted, however much later we look.
  w.now += 3_600_000;
  assert.deepEqual(w.step().actions, []);
});

void test('a completed task is not restarted even with restart condition any', () => {
  const w = world(job({ replicas: 1, taskTemplate: { restartPolicy: { condition: 'any', delayMs: 0 } } }));
  w.step();
  runAll(w, 0);
  w.now += 10_000;
  assert.deepEqual(w.step().actions, []);
  assert.equal(w.tasks.size, 1);
});

void test('a failed task is restarted after the delay, as on-failure, up to maxAttempts; then the job stays failed', () => {
  const w = world(job({ replicas: 1, taskTemplate: { restartPolicy: { condition: 'any', delayMs: 2_000, maxAttempts: 2 } } }));
  w.step();
  runAll(w, 1);
  const waiting = w.step();
  assert.deepEqual(waiting.actions, [], 'waits for the restart delay');
  assert.equal(waiting.wakeAt, T0 + 2_000);
  w.now = T0 + 2_000;
  const restart = w.step();
  assert.equal(restart.actions.length, 1);
  assert.equal(restart.actions[0]?.kind, 'replace');
  assert.match(restart.actions[0]?.reason ?? '', /restart 1 after the job task failed \(exit code 1\)/);
  assert.deepEqual(active(w), ['slot 1']);

  runAll(w, 1);
  w.now += 60_000;
  w.step();
  assert.deepEqual(active(w), ['slot 1'], 'second attempt');
  runAll(w, 1);
  w.now += 600_000;
  const gaveUp = w.step();
  assert.deepEqual(gaveUp.actions, [], 'gave up after maxAttempts restarts');
  assert.deepEqual(active(w), []);
  const p = jobProgress(w.service!, [...w.tasks.values()]);
  assert.deepEqual(p, { completed: 0, wanted: 1, active: 0, failed: 3, done: false });
});

void test('restart condition none: a failed job task stays failed', () => {
  const w = world(job({ replicas: 1, taskTemplate: { restartPolicy: { condition: 'none' } } }));
  w.step();
  runAll(w, 3);
  w.now += 600_000;
  assert.deepEqual(w.step().actions, []);
});

void test('a restart counts against maxConcurrent; fresh slots wait for it', () => {
  const w = world(job({ job: { maxConcurrent: 1, totalCompletions: 2 }, taskTemplate: { restartPolicy: { delayMs: 0 } } }));
  w.step();
  runAll(w, 1);
  w.now += 1_000;
  w.step();
  assert.deepEqual(active(w), ['slot 1'], 'slot 1 restarted, slot 2 not started beside it');
  runAll(w, 0);
  w.step();
  assert.deepEqual(active(w), ['slot 2']);
});

void test('scaling (a new specVersion) starts a new run: old live tasks stop, results of the old run do not count', () => {
  const w = world(job({ replicas: 2 }));
  w.step();
  const [done, busy] = activeTasks(w);
  w.report(done!.id, 'running', {}, 'n1');
  w.report(done!.id, 'complete', { exitCode: 0 });
  w.report(busy!.id, 'running', {}, 'n2');
  w.service = {
    ...w.service!,
    spec: { ...w.service!.spec, replicas: 3 },
    specVersion: 2,
    updateStatus: { state: 'updating', startedAt: new Date(T0).toISOString(), message: 'update in progress' },
  };
  const p = w.step();
  assert.ok(p.actions.some((a) => a.kind === 'stop' && a.task.id === busy!.id && a.desiredState === 'shutdown'));
  assert.deepEqual(
    activeTasks(w).filter((t) => t.specVersion === 2).map((t) => t.slot).sort(),
    [1, 2, 3],
  );
  assert.equal(jobProgress(w.service, [...w.tasks.values()]).completed, 0);
  // The old task stopped: the rollout of the job is complete.
  w.report(busy!.id, 'shutdown');
  w.step();
  assert.equal(w.service.updateStatus?.state, 'completed');
});

void test('a global job runs once on every eligible node; failures restart, successes do not', () => {
  const w = world(job({ mode: 'global-job', taskTemplate: { restartPolicy: { delayMs: 0 } } }), ['n1', 'n2', 'n3']);
  w.step();
  assert.deepEqual(active(w), ['node n1', 'node n2', 'node n3']);
  for (const t of activeTasks(w)) {
    w.report(t.id, 'running');
    w.report(t.id, t.nodeId === 'n2' ? 'failed' : 'complete', { exitCode: t.nodeId === 'n2' ? 1 : 0 });
  }
  assert.equal(jobProgress(w.service!, [...w.tasks.values()]).done, false);
  w.now += 1_000;
  w.step();
  assert.deepEqual(active(w), ['node n2']);
  for (const t of activeTasks(w)) {
    w.report(t.id, 'running');
    w.report(t.id, 'complete', { exitCode: 0 });
  }
  w.now += 1_000;
  assert.deepEqual(w.step().actions, []);
  assert.deepEqual(jobProgress(w.service!, [...w.tasks.values()]), { completed: 3, wanted: 3, active: 0, failed: 1, done: true });
  // A node that joins later gets its run too.
  w.addNode(makeNode({ id: 'n4' }));
  w.step();
  assert.deepEqual(active(w), ['node n4']);
});

void test('a replicated job task on a drained node is moved; a completed one stays where it finished', () => {
  const w = world(job({ replicas: 2 }));
  w.step();
  const [a, b] = activeTasks(w);
  w.report(a!.id, 'running', {}, 'n1');
  w.report(a!.id, 'complete', { exitCode: 0 });
  w.report(b!.id, 'running', {}, 'n1');
  w.addNode(makeNode({ id: 'n1', spec: { availability: 'drain' } }));
  const p = w.step();
  assert.deepEqual(
    p.actions.map((x) => `${x.kind} ${x.kind === 'replace' ? x.old.id : ''}`),
    [`replace ${b!.id}`],
  );
});
