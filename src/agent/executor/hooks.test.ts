import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskStatus } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import { FakeHost } from '../drivers/fake/fake-host.ts';
import { mergePrepared, notifyEnded, runPoststop, runPrestart, runPrestop, type TaskHook } from './hooks.ts';
import { TaskRunner } from './task-runner.ts';

/** Hooks that write what they were called for into `calls` ("a.prestart", "b.poststop t1"). */
function recording(calls: string[], names: string[], options: { failIn?: string } = {}): TaskHook[] {
  return names.map((name) => ({
    name,
    prestart: (task: Task) => {
      calls.push(`${name}.prestart`);
      if (options.failIn === name) return Promise.reject(new Error(`${name} cannot prepare ${task.id}`));
      return Promise.resolve({ fileMounts: [{ hostPath: `/h/${name}`, target: `/${name}` }] });
    },
    poststop: (taskId: string) => {
      calls.push(`${name}.poststop ${taskId}`);
      return Promise.resolve();
    },
  }));
}

function fakeTask(id = 't1'): Task {
  const base = makeTask({ id, nodeId: 'n1', status: { state: 'assigned' } });
  return { ...base, spec: { ...base.spec, driver: 'fake', container: { ...base.spec.container, stopGracePeriodMs: 1_000 } } };
}

const signal = new AbortController().signal;

void describe('task hooks', () => {
  void it('runs prestart in order, merging additions, and poststop in reverse', async () => {
    const calls: string[] = [];
    const hooks = recording(calls, ['a', 'b', 'c']);
    const pre = await runPrestart(hooks, fakeTask(), signal);
    assert.ok(pre.ok);
    assert.deepEqual(pre.prepared.fileMounts?.map((m) => m.target), ['/a', '/b', '/c']);
    await runPoststop(hooks, 't1');
    assert.deepEqual(calls, ['a.prestart', 'b.prestart', 'c.prestart', 'c.poststop t1', 'b.poststop t1', 'a.poststop t1']);
  });

  void it('a failing prestart stops the chain and runs the poststop of the hooks that had run, in reverse', async () => {
    const calls: string[] = [];
    const pre = await runPrestart(recording(calls, ['a', 'b', 'c'], { failIn: 'b' }), fakeTask(), signal);
    assert.ok(!pre.ok);
    assert.equal(pre.error.hook, 'b');
    assert.equal(pre.error.message, 'b cannot prepare t1');
    assert.deepEqual(calls, ['a.prestart', 'b.prestart', 'b.poststop t1', 'a.poststop t1']);
  });

  void it('each hook sees what earlier hooks prepared', async () => {
    const seen: string[][] = [];
    const hook = (name: string): TaskHook => ({
      name,
      prestart: (_task, { prepared }) => {
        seen.push((prepared.fileMounts ?? []).map((m) => m.target));
        return Promise.resolve({ fileMounts: [{ hostPath: '/h', target: `/${name}` }] });
      },
    });
    await runPrestart([hook('a'), hook('b')], fakeTask(), signal);
    assert.deepEqual(seen, [[], ['/a']]);
  });

  void it('poststop runs every hook even when one fails, then throws the first failure', async () => {
    const calls: string[] = [];
    const hooks: TaskHook[] = [
      ...recording(calls, ['a']),
      { name: 'bad', poststop: () => Promise.reject(new Error('busy')) },
      ...recording(calls, ['c']),
    ];
    const failed: string[] = [];
    await assert.rejects(runPoststop(hooks, 't1', (hook) => failed.push(hook)), /busy/);
    assert.deepEqual(calls, ['c.poststop t1', 'a.poststop t1']);
    assert.deepEqual(failed, ['bad']);
  });

  void it('prestop runs in reverse order, past a failing hook; ended tells every hook, past a throwing one', async () => {
    const calls: string[] = [];
    const failed: string[] = [];
    const hooks: TaskHook[] = [
      { name: 'a', prestop: (id) => Promise.resolve(void calls.push(`a.prestop ${id}`)), ended: (id) => void calls.push(`a.ended ${id}`) },
      { name: 'bad', prestop: () => Promise.reject(new Error('busy')), ended: () => { throw new Error('oops'); } },
      { name: 'c', prestop: (id) => Promise.resolve(void calls.push(`c.prestop ${id}`)), ended: (id) => void calls.push(`c.ended ${id}`) },
    ];
    await runPrestop(hooks, 't1', signal, (hook) => failed.push(hook));
    notifyEnded(hooks, 't1', (hook) => failed.push(hook));
    assert.deepEqual(calls, ['c.prestop t1', 'a.prestop t1', 'a.ended t1', 'c.ended t1']);
    assert.deepEqual(failed, ['bad', 'bad']);
  });

  void it('merging appends lists and refuses a single value set twice', () => {
    assert.deepEqual(mergePrepared({ secretsDir: '/s' }, { configsDir: '/c' }, 'b'), { secretsDir: '/s', configsDir: '/c' });
    assert.throws(() => mergePrepared({ secretsDir: '/s' }, { secretsDir: '/t' }, 'b'), /task hook b sets secretsDir, which an earlier hook already set/);
  });
});

void describe('TaskRunner with hooks', () => {
  function setup(hooks: TaskHook[]): { clock: FakeClock; host: FakeHost; reports: Array<[string, TaskStatus]>; run: (t: Task) => TaskRunner } {
    const clock = new FakeClock();
    const host = new FakeHost();
    const driver = new FakeDriver({ nodeId: 'n1', clock, host });
    const reports: Array<[string, TaskStatus]> = [];
    const deps = { driver, clock, logger: silentLogger, report: (id: string, s: TaskStatus) => reports.push([id, s]), hooks };
    return { clock, host, reports, run: (t) => new TaskRunner(deps, t) };
  }

  void it('gives the driver what the hooks prepared, and runs poststop in reverse once the task is removed', async () => {
    const calls: string[] = [];
    const { clock, host, reports, run } = setup(recording(calls, ['a', 'b']));
    const runner = run(fakeTask());
    await clock.advance(0);
    assert.equal(reports.at(-1)?.[1].state, 'running');
    assert.deepEqual(host.processes.get('t1')?.task.fileMounts?.map((m) => m.target), ['/a', '/b']);
    assert.deepEqual(calls, ['a.prestart', 'b.prestart']);
    const removed = runner.destroy();
    await clock.advance(1_000);
    await removed;
    assert.equal(host.processes.has('t1'), false);
    assert.deepEqual(calls.slice(2), ['b.poststop t1', 'a.poststop t1']);
  });

  void it('a failing prestart rejects the task with the hook’s reason; the driver never sees it', async () => {
    const calls: string[] = [];
    const { clock, host, reports, run } = setup(recording(calls, ['a', 'b', 'c'], { failIn: 'b' }));
    run(fakeTask());
    await clock.advance(0);
    assert.deepEqual(reports.map(([, s]) => s.state), ['accepted', 'preparing', 'rejected']);
    assert.equal(reports[2]?.[1].err, 'b cannot prepare t1');
    assert.equal(host.processes.has('t1'), false);
    assert.deepEqual(calls, ['a.prestart', 'b.prestart', 'b.poststop t1', 'a.poststop t1']);
  });

  void it('a driver that cannot prepare the task runs every hook’s poststop', async () => {
    const calls: string[] = [];
    const { clock, reports, run } = setup(recording(calls, ['a', 'b']));
    const base = fakeTask();
    run({ ...base, spec: { ...base.spec, container: { ...base.spec.container, env: ['FAKE_PREPARE_ERROR=No such image'] } } });
    await clock.advance(0);
    assert.equal(reports.at(-1)?.[1].err, 'No such image');
    assert.deepEqual(calls, ['a.prestart', 'b.prestart', 'b.poststop t1', 'a.poststop t1']);
  });

  void it('runs poststop once, reporting nothing, for a finished task found with no process after a restart', async () => {
    const calls: string[] = [];
    const { clock, reports, run } = setup(recording(calls, ['a', 'b']));
    const base = fakeTask();
    const runner = run({ ...base, status: { ...base.status, state: 'complete' } });
    await clock.advance(0);
    assert.equal(runner.phase, 'removed');
    assert.deepEqual(calls, ['b.poststop t1', 'a.poststop t1']);
    assert.deepEqual(reports, []);
  });

  /** A hook that records its stop-side stages into `calls`; `prestop` waits for `release()`. */
  function stopStages(calls: string[]): { hook: TaskHook; release: () => void } {
    let release = (): void => undefined;
    const hook: TaskHook = {
      name: 'net',
      prestop: (id) => {
        calls.push(`prestop ${id}`);
        return new Promise<void>((resolve) => (release = () => resolve()));
      },
      ended: (id) => void calls.push(`ended ${id}`),
    };
    return { hook, release: () => release() };
  }

  for (const want of ['shutdown', 'remove', 'gone'] as const) {
    void it(`awaits prestop before the stop signal (${want})`, async () => {
      const calls: string[] = [];
      const { hook, release } = stopStages(calls);
      const { clock, host, reports, run } = setup([hook]);
      const task = fakeTask();
      const runner = run(task);
      await clock.advance(0);
      const done = want === 'gone' ? runner.destroy() : (runner.update({ ...task, desiredState: want }), undefined);
      await clock.advance(5_000);
      assert.deepEqual(calls, ['prestop t1']);
      assert.equal(host.processes.get('t1')?.state, 'running', 'no stop signal while the task drains');
      release();
      await clock.advance(1_000);
      await done;
      assert.notEqual(host.processes.get('t1')?.state, 'running');
      assert.deepEqual(calls, ['prestop t1'], 'a stopped task did not end on its own');
      if (want !== 'gone') assert.equal(reports.at(-1)?.[1].state, 'shutdown');
    });
  }

  void it('tells the hooks at once when the process exits on its own, before the status goes out', async () => {
    const calls: string[] = [];
    const { hook } = stopStages(calls);
    const clock = new FakeClock();
    const deps = { driver: new FakeDriver({ nodeId: 'n1', clock, host: new FakeHost() }), clock, logger: silentLogger, hooks: [hook], report: (_id: string, s: TaskStatus) => void calls.push(`report ${s.state}`) };
    const base = fakeTask();
    new TaskRunner(deps, { ...base, spec: { ...base.spec, container: { ...base.spec.container, env: ['FAKE_RUN_MS=1000', 'FAKE_EXIT_CODE=3'] } } });
    await clock.advance(1_000);
    assert.deepEqual(calls.slice(-2), ['ended t1', 'report failed']);
    assert.ok(!calls.includes('prestop t1'), 'an exited process is not stopped');
  });

  void it('tells the hooks when the task turns unhealthy, before it is reported failed; its stop then drains', async () => {
    const calls: string[] = [];
    const { hook, release } = stopStages(calls);
    const clock = new FakeClock();
    const host = new FakeHost();
    const deps = { driver: new FakeDriver({ nodeId: 'n1', clock, host }), clock, logger: silentLogger, hooks: [hook], report: (_id: string, s: TaskStatus) => void calls.push(`report ${s.state}${s.health ? `/${s.health}` : ''}`) };
    const base = fakeTask();
    new TaskRunner(deps, { ...base, spec: { ...base.spec, container: { ...base.spec.container, env: ['FAKE_HEALTH=healthy:1000,unhealthy'] } } });
    await clock.advance(1_000);
    assert.deepEqual(calls.slice(-4), ['report running/healthy', 'ended t1', 'report failed/unhealthy', 'prestop t1']);
    assert.equal(host.processes.get('t1')?.state, 'running');
    release();
    await clock.advance(1_000);
    assert.equal(host.processes.get('t1')?.state, 'exited');
  });

  void it('calls neither stage when the agent stops (the task keeps running and serving)', async () => {
    const calls: string[] = [];
    const { hook } = stopStages(calls);
    const { clock, host, run } = setup([hook]);
    const runner = run(fakeTask());
    await clock.advance(0);
    await runner.halt();
    await clock.advance(1_000);
    assert.deepEqual(calls, []);
    assert.equal(host.processes.get('t1')?.state, 'running');
  });
});
