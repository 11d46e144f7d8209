import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskStatus } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import { TaskRunner, driverTask } from './task-runner.ts';

function setup() {
  const clock = new FakeClock();
  const driver = new FakeDriver({ nodeId: 'n1', clock });
  const reports: TaskStatus[] = [];
  const deps = { driver, clock, logger: silentLogger, report: (_: string, s: TaskStatus) => reports.push(s) };
  return { clock, driver, reports, deps, runner: (t: Task) => new TaskRunner(deps, t) };
}

function fakeTask(env: string[], status: Partial<TaskStatus> = {}): Task {
  const base = makeTask({ nodeId: 'n1', status: { state: 'assigned', ...status } });
  return { ...base, spec: { ...base.spec, driver: 'fake', container: { ...base.spec.container, env, stopGracePeriodMs: 5_000 } } };
}

const seen = (reports: TaskStatus[]): string[] => reports.map((s) => (s.health ? `${s.state}/${s.health}` : s.state));

void describe('TaskRunner health', () => {
  void it('reports health changes as refinements of running, keeping its ids and timestamp', async () => {
    const { clock, reports, runner } = setup();
    runner(fakeTask(['FAKE_HEALTH=starting:2000,healthy']));
    await clock.advance(0);
    assert.deepEqual(seen(reports), ['accepted', 'preparing', 'starting', 'running', 'running/starting']);
    await clock.advance(2_000);
    assert.deepEqual(seen(reports).slice(5), ['running/healthy']);
    const [running, healthy] = [reports[3]!, reports[5]!];
    assert.equal(healthy.containerId, running.containerId);
    assert.equal(healthy.pid, running.pid);
    assert.equal(healthy.timestamp, running.timestamp, 'the timestamp is when the state changed');
    await clock.advance(10_000);
    assert.equal(reports.length, 6, 'no report without a change');
  });

  void it('fails an unhealthy task with the check’s output and stops it, leaving the restart to the manager', async () => {
    const { clock, driver, reports, runner } = setup();
    const task = fakeTask(['FAKE_HEALTH=healthy:3000,unhealthy', 'FAKE_IGNORE_STOP=1']);
    const r = runner(task);
    await clock.advance(3_000);
    assert.deepEqual(seen(reports).slice(3), ['running', 'running/healthy', 'failed/unhealthy']);
    const failed = reports.at(-1)!;
    assert.equal(failed.err, 'unhealthy: fake health check failed');
    assert.equal(failed.containerId, reports[3]!.containerId);
    assert.equal(clock.now() - Date.UTC(2026, 0, 1), 3_000, 'failed as soon as the check said so');
    // The process is stopped with the task's signal and grace period (this one ignores SIGTERM).
    assert.equal(driver.host.processes.get(task.id)?.state, 'running');
    await clock.advance(5_000);
    assert.equal(driver.host.processes.get(task.id)?.state, 'exited');
    assert.equal(r.phase, 'stopped');
    assert.equal(reports.length, 6, 'nothing reported after failed');
  });

  void it('reports no health for a task without a health check', async () => {
    const { clock, reports, runner } = setup();
    runner(fakeTask([]));
    await clock.advance(10_000);
    assert.deepEqual(seen(reports), ['accepted', 'preparing', 'starting', 'running']);
    assert.equal(clock.pendingTimers, 0, 'no polling left behind');
  });

  void it('stops watching health when the task is shut down or exits', async () => {
    const { clock, driver, reports, runner } = setup();
    const task = fakeTask(['FAKE_HEALTH=healthy:2000,unhealthy']);
    const r = runner(task);
    await clock.advance(1_000);
    r.update({ ...task, desiredState: 'shutdown' });
    await clock.advance(5_000);
    assert.deepEqual(seen(reports).slice(3), ['running', 'running/healthy', 'shutdown']);
    assert.equal(clock.pendingTimers, 0);

    const crashing = fakeTask(['FAKE_HEALTH=healthy', 'FAKE_RUN_MS=1500', 'FAKE_EXIT_CODE=2']);
    const before = reports.length;
    runner(crashing);
    await clock.advance(5_000);
    assert.deepEqual(seen(reports.slice(before)).slice(3), ['running', 'running/healthy', 'failed']);
    assert.equal(driver.host.processes.get(crashing.id)?.state, 'exited');
  });

  void it('follows a health changed from outside (host.setHealth)', async () => {
    const { clock, driver, reports, runner } = setup();
    const task = fakeTask(['FAKE_HEALTH=healthy']);
    runner(task);
    await clock.advance(0);
    driver.host.setHealth(task.id, { status: 'unhealthy', output: 'wget: server returned error: HTTP/1.1 500' });
    await clock.advance(1_000);
    assert.equal(reports.at(-1)?.err, 'unhealthy: wget: server returned error: HTTP/1.1 500');
  });

  void it('an adopted task keeps its last reported health and goes on being checked', async () => {
    const { clock, driver, reports, deps } = setup();
    const task = fakeTask(['FAKE_HEALTH=healthy:5000,unhealthy']);
    await driver.prepare(driverTask(task));
    const started = await driver.start(task.id);
    const [inspection] = await driver.recover();
    const known = fakeTask(task.spec.container.env, { state: 'running', containerId: started.containerId!, health: 'healthy' });
    new TaskRunner(deps, { ...known, id: task.id }, inspection);
    await clock.advance(1_000);
    assert.deepEqual(reports, [], 'nothing new: still healthy');
    await clock.advance(5_000);
    assert.deepEqual(seen(reports), ['failed/unhealthy']);
  });
});
