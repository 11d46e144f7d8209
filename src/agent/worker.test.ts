import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskStatus } from '../api/task.ts';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { makeTask } from '../testing/fixtures.ts';
import { FakeDriver } from './drivers/fake/fake-driver.ts';
import { FakeHost } from './drivers/fake/fake-host.ts';
import type { TaskHook } from './executor/hooks.ts';
import { driverTask } from './executor/task-runner.ts';
import { Worker } from './worker.ts';

function fakeTask(id: string, state: Task['status']['state'] = 'assigned'): Task {
  const base = makeTask({ id, nodeId: 'n1', status: { state } });
  return { ...base, spec: { ...base.spec, driver: 'fake' } };
}

async function setup(hooks: TaskHook[] = []): Promise<{ clock: FakeClock; host: FakeHost; worker: Worker; reports: Array<[string, TaskStatus]>; pids: Map<string, number | undefined> }> {
  const clock = new FakeClock();
  const host = new FakeHost();
  // A previous agent left t1 and t2 running.
  const before = new FakeDriver({ nodeId: 'n1', clock, host });
  const pids = new Map<string, number | undefined>();
  for (const id of ['t1', 't2']) {
    await before.prepare(driverTask(fakeTask(id)));
    pids.set(id, (await before.start(id)).pid);
  }
  const reports: Array<[string, TaskStatus]> = [];
  const driver = new FakeDriver({ nodeId: 'n1', clock, host });
  const worker = new Worker({ clock, logger: silentLogger, drivers: new Map([['fake', driver]]), report: (id, s) => reports.push([id, s]), hooks });
  await worker.recover();
  return { clock, host, worker, reports, pids };
}

void describe('Worker', () => {
  void it('adopts assigned tasks and removes the rest only once the full set arrives', async () => {
    const { clock, host, worker, reports, pids } = await setup();
    worker.apply({ type: 'assignments', full: false, tasks: [], removed: ['t2'] });
    await clock.advance(0);
    assert.equal(host.processes.get('t2')?.state, 'running', 'nothing removed before the full set');

    worker.apply({ type: 'assignments', full: true, tasks: [fakeTask('t1', 'running')], removed: [] });
    await clock.advance(0);
    await worker.settled();
    assert.equal(host.processes.get('t1')?.pid, pids.get('t1'), 't1 adopted, same process');
    assert.equal(host.processes.get('t1')?.state, 'running');
    assert.equal(host.processes.has('t2'), false, 't2 stopped and removed');
    assert.deepEqual(reports, []);
  });

  void it('starts new tasks and destroys tasks removed from the set', async () => {
    const { clock, host, worker, reports } = await setup();
    worker.apply({ type: 'assignments', full: true, tasks: [fakeTask('t1', 'running'), fakeTask('t3')], removed: [] });
    await clock.advance(0);
    assert.equal(host.processes.get('t3')?.state, 'running');
    assert.deepEqual(reports.filter(([id]) => id === 't3').map(([, s]) => s.state), ['accepted', 'preparing', 'starting', 'running']);

    worker.apply({ type: 'assignments', full: false, tasks: [], removed: ['t3'] });
    await clock.advance(0);
    await worker.settled();
    assert.equal(host.processes.has('t3'), false);
    assert.equal(worker.runners.has('t3'), false);

    // A later full set without t1 removes it as well.
    worker.apply({ type: 'assignments', full: true, tasks: [], removed: [] });
    await clock.advance(0);
    await worker.settled();
    assert.equal(host.size, 0);
  });

  void it('leaves processes alone when halted', async () => {
    const { clock, host, worker } = await setup();
    worker.apply({ type: 'assignments', full: true, tasks: [fakeTask('t1', 'running'), fakeTask('t2', 'running')], removed: [] });
    await clock.advance(0);
    await worker.halt();
    assert.equal(host.processes.get('t1')?.state, 'running');
    assert.equal(host.processes.get('t2')?.state, 'running');
  });

  void it('runs the hooks’ poststop, in reverse, for a stray found at recovery', async () => {
    const calls: string[] = [];
    const hook = (name: string): TaskHook => ({ name, poststop: (id) => Promise.resolve(void calls.push(`${name} ${id}`)) });
    const { clock, host, worker } = await setup([hook('files'), hook('network')]);
    worker.apply({ type: 'assignments', full: true, tasks: [fakeTask('t1', 'running')], removed: [] });
    await clock.advance(0);
    await worker.settled();
    assert.equal(host.processes.has('t2'), false);
    assert.deepEqual(calls, ['network t2', 'files t2']);
  });
});
