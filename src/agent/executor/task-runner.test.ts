import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskStatus } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import type { TaskHook } from './hooks.ts';
import { TaskRunner, driverTask } from './task-runner.ts';

function setup(): { clock: FakeClock; driver: FakeDriver; reports: Array<[string, TaskStatus]>; runner: (t: Task) => TaskRunner } {
  const clock = new FakeClock();
  const driver = new FakeDriver({ nodeId: 'n1', clock });
  const reports: Array<[string, TaskStatus]> = [];
  const deps = { driver, clock, logger: silentLogger, report: (id: string, s: TaskStatus) => reports.push([id, s]) };
  return { clock, driver, reports, runner: (t) => new TaskRunner(deps, t) };
}

function fakeTask(env: string[] = [], overrides: DeepPartial<Task> = {}): Task {
  const base = makeTask({ nodeId: 'n1', status: { state: 'assigned' }, ...overrides });
  return { ...base, spec: { ...base.spec, driver: 'fake', container: { ...base.spec.container, env, stopGracePeriodMs: 1_000 } } };
}

const states = (reports: Array<[string, TaskStatus]>): string[] => reports.map(([, s]) => s.state);

void describe('TaskRunner', () => {
  void it('runs a task to completion', async () => {
    const { clock, reports, runner } = setup();
    runner(fakeTask(['FAKE_RUN_MS=100']));
    await clock.advance(0);
    assert.deepEqual(states(reports), ['accepted', 'preparing', 'starting', 'running']);
    assert.equal(reports[3]![1].containerId?.startsWith('fake-'), true);
    assert.ok(reports[3]![1].pid);
    await clock.advance(100);
    assert.deepEqual(states(reports).slice(4), ['complete']);
    assert.equal(reports[4]![1].exitCode, 0);
  });

  void it('reports a non-zero exit as failed with the exit code', async () => {
    const { clock, reports, runner } = setup();
    runner(fakeTask(['FAKE_RUN_MS=10', 'FAKE_EXIT_CODE=3']));
    await clock.advance(10);
    const last = reports.at(-1)![1];
    assert.equal(last.state, 'failed');
    assert.equal(last.exitCode, 3);
    assert.equal(last.err, 'exit code 3');
  });

  void it('rejects a task the driver cannot prepare, with the driver’s message', async () => {
    const { clock, reports, runner } = setup();
    runner(fakeTask(['FAKE_PREPARE_ERROR=No such image: foo:latest']));
    await clock.advance(0);
    assert.deepEqual(states(reports), ['accepted', 'preparing', 'rejected']);
    assert.equal(reports[2]![1].err, 'No such image: foo:latest');
  });

  void it('fails a task whose start fails', async () => {
    const { clock, reports, runner } = setup();
    runner(fakeTask(['FAKE_START_ERROR=boom']));
    await clock.advance(0);
    assert.deepEqual(states(reports), ['accepted', 'preparing', 'starting', 'failed']);
    assert.equal(reports[3]![1].err, 'boom');
  });

  void it('stops on shutdown with the stop signal and keeps the container', async () => {
    const { clock, driver, reports, runner } = setup();
    const task = fakeTask();
    const r = runner(task);
    await clock.advance(0);
    r.update({ ...task, desiredState: 'shutdown' });
    await clock.advance(0);
    assert.deepEqual(states(reports).slice(-1), ['shutdown']);
    assert.equal(driver.host.processes.get(task.id)?.state, 'exited');
    assert.equal(r.phase, 'stopped');
  });

  void it('kills a task that ignores the stop signal after the grace period', async () => {
    const { clock, reports, runner } = setup();
    const task = fakeTask(['FAKE_IGNORE_STOP=1']);
    const r = runner(task);
    await clock.advance(0);
    r.update({ ...task, desiredState: 'shutdown' });
    await clock.advance(999);
    assert.equal(states(reports).at(-1), 'running');
    await clock.advance(1);
    assert.equal(states(reports).at(-1), 'shutdown');
  });

  void it('stops and removes on desired remove, reporting shutdown', async () => {
    const { clock, driver, reports, runner } = setup();
    const task = fakeTask();
    const r = runner(task);
    await clock.advance(0);
    r.update({ ...task, desiredState: 'remove' });
    await clock.advance(0);
    assert.equal(states(reports).at(-1), 'shutdown');
    assert.equal(driver.host.processes.has(task.id), false);
    assert.equal(r.phase, 'removed');
  });

  void it('never starts a task shut down before it started', async () => {
    const { clock, driver, reports, runner } = setup();
    const task = fakeTask(['FAKE_PREPARE_MS=50']);
    const r = runner(task);
    await clock.advance(10);
    r.update({ ...task, desiredState: 'shutdown' });
    await clock.advance(100);
    assert.deepEqual(states(reports), ['accepted', 'preparing', 'shutdown']);
    assert.notEqual(driver.host.processes.get(task.id)?.state, 'running');
  });

  void it('ends a task at once when it is removed while a prestart hook waits (for a network removed with its stack)', async () => {
    const { clock, driver, reports } = setup();
    const cleaned: string[] = [];
    const waitsForever: TaskHook = {
      name: 'network',
      prestart: (_task, { signal }) =>
        new Promise((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        }),
      poststop: (taskId) => {
        cleaned.push(taskId);
        return Promise.resolve();
      },
    };
    const deps = { driver, clock, logger: silentLogger, hooks: [waitsForever], report: (id: string, s: TaskStatus) => reports.push([id, s]) };
    const task = fakeTask();
    const r = new TaskRunner(deps, task);
    await clock.advance(0);
    assert.deepEqual(states(reports), ['accepted', 'preparing']);
    r.update({ ...task, desiredState: 'remove' });
    await clock.advance(0);
    await clock.advance(0);
    assert.deepEqual(states(reports), ['accepted', 'preparing', 'shutdown'], 'not rejected, not after the hook’s own timeout');
    assert.equal(r.phase, 'removed');
    assert.ok(cleaned.includes(task.id), 'the hook cleaned up after itself');
    assert.equal(driver.host.processes.has(task.id), false);
  });

  void it('destroys an unassigned task silently', async () => {
    const { clock, driver, reports, runner } = setup();
    const task = fakeTask();
    const r = runner(task);
    await clock.advance(0);
    const n = reports.length;
    const done = r.destroy();
    await clock.advance(0);
    await done;
    assert.equal(reports.length, n);
    assert.equal(driver.host.processes.has(task.id), false);
  });

  void it('adopts a running process without starting it again', async () => {
    const { clock, driver, reports } = setup();
    const task = fakeTask(['FAKE_RUN_MS=500']);
    await driver.prepare(driverTask(task));
    const started = await driver.start(task.id);
    const [inspection] = await driver.recover();
    assert.equal(inspection?.state, 'running');
    const known = { ...task, status: { ...task.status, state: 'running' as const, containerId: started.containerId! } };
    const r = new TaskRunner({ driver, clock, logger: silentLogger, report: (id, s) => reports.push([id, s]) }, known, inspection);
    await clock.advance(0);
    assert.equal(r.phase, 'running');
    assert.deepEqual(reports, [], 'nothing new to say about a task already running');
    assert.equal(driver.host.processes.get(task.id)?.pid, started.pid, 'same process');
    await clock.advance(500);
    assert.deepEqual(states(reports), ['complete']);
  });

  void it('reports running for an adopted process the manager had not heard of', async () => {
    const { clock, driver, reports } = setup();
    const task = fakeTask();
    await driver.prepare(driverTask(task));
    await driver.start(task.id);
    const [inspection] = await driver.recover();
    const starting = { ...task, status: { ...task.status, state: 'starting' as const } };
    new TaskRunner({ driver, clock, logger: silentLogger, report: (id, s) => reports.push([id, s]) }, starting, inspection);
    await clock.advance(0);
    assert.deepEqual(states(reports), ['running']);
  });

  void it('fails a started task whose process vanished while the agent was away', async () => {
    const { clock, driver, reports } = setup();
    const task = fakeTask(undefined, { status: { state: 'running' } });
    new TaskRunner({ driver, clock, logger: silentLogger, report: (id, s) => reports.push([id, s]) }, task);
    await clock.advance(0);
    assert.deepEqual(states(reports), ['failed']);
  });

  void it('halts without touching the process', async () => {
    const { clock, driver, runner } = setup();
    const task = fakeTask();
    const r = runner(task);
    await clock.advance(0);
    await r.halt();
    assert.equal(driver.host.processes.get(task.id)?.state, 'running');
  });
});
