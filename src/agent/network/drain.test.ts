import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { NetworkMap } from '../../api/network.ts';
import type { Task, TaskStatus } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { NET_A, sampleMap } from '../../testing/network-map-fixture.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import { FakeHost } from '../drivers/fake/fake-host.ts';
import { TaskRunner } from '../executor/task-runner.ts';
import { kernelBridges } from './bridges.ts';
import { DataPlane } from './data-plane.ts';
import { drainStages } from './drain.ts';
import { FakeKernel } from './fake-kernel.ts';
import { networkHook } from './hook.ts';
import { HostIpam } from './ipam.ts';
import { endpointChain } from './names.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

const never = new AbortController().signal;

/** A source whose `endpointGone` resolves when the test says (`applied()`), recording calls. */
function fakeSource() {
  const calls: string[] = [];
  let pending: Array<(served: boolean) => void> = [];
  return {
    calls,
    /** The rules without the task are applied; `served`: whether it was in them. */
    applied: (served = true): void => {
      for (const r of pending) r(served);
      pending = [];
    },
    endpointGone: (taskId: string): Promise<boolean> => {
      calls.push(taskId);
      return new Promise<boolean>((resolve) => pending.push(resolve));
    },
  };
}

function stages(options: { drainMs?: number; applyTimeoutMs?: number } = {}) {
  const clock = new FakeClock();
  const source = fakeSource();
  const ipam = new HostIpam();
  ipam.reserve(NET_A.id, '10.10.1.0/24', 't1');
  const drain = drainStages({ source, ipam, clock, logger: silentLogger }, options);
  return { clock, source, drain };
}

/** Tracks whether a promise has settled. */
function track(p: Promise<void>): { readonly done: boolean } {
  const s = { done: false };
  void p.then(() => (s.done = true));
  return s;
}

describe('drainStages', () => {
  it('prestop waits for this host’s rules to drop the task, then the drain time', async () => {
    const { clock, source, drain } = stages({ drainMs: 1_000 });
    const stop = track(drain.prestop('t1', { signal: never }));
    await clock.advance(3_000);
    assert.deepEqual(source.calls, ['t1']);
    assert.equal(stop.done, false, 'the rules are not applied yet');
    source.applied();
    await clock.advance(999);
    assert.equal(stop.done, false, 'other nodes are still applying the manager’s map');
    await clock.advance(1);
    assert.equal(stop.done, true);
  });

  it('prestop gives up on a stuck data plane after applyTimeoutMs', async () => {
    const { clock, drain } = stages({ drainMs: 0, applyTimeoutMs: 5_000 });
    const stop = track(drain.prestop('t1', { signal: never }));
    await clock.advance(4_999);
    assert.equal(stop.done, false);
    await clock.advance(1);
    assert.equal(stop.done, true);
  });

  it('ended takes the task out at once; its later stop does not wait the drain time', async () => {
    const { clock, source, drain } = stages({ drainMs: 60_000 });
    drain.ended('t1');
    assert.deepEqual(source.calls, ['t1']);
    source.applied();
    const stop = track(drain.prestop('t1', { signal: never }));
    await clock.advance(0);
    source.applied();
    await clock.advance(0);
    assert.equal(stop.done, true);
  });

  it('prestop does not wait the drain time for a task this host never served (never healthy, a job, a stray)', async () => {
    const { clock, source, drain } = stages({ drainMs: 60_000 });
    const stop = track(drain.prestop('t1', { signal: never }));
    await clock.advance(0);
    source.applied(false);
    await clock.advance(0);
    assert.equal(stop.done, true);
  });

  it('leaves a task on no network alone, and gives up when the agent stops', async () => {
    const { clock, source, drain } = stages();
    drain.ended('t2');
    await drain.prestop('t2', { signal: never });
    assert.deepEqual(source.calls, []);

    const ac = new AbortController();
    const stop = drain.prestop('t1', { signal: ac.signal });
    ac.abort(new Error('agent stopping'));
    await assert.rejects(stop, /agent stopping/);
    await clock.advance(0);
  });
});

/** Lets real file I/O and fake timers run until `done()` holds (bounded: a hang fails). */
async function until(clock: FakeClock, done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2_000 && !done(); i++) {
    await clock.advance(0);
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.ok(done(), `still waiting for ${what}`);
}

/**
 * The wiring: a task runner on the fake driver with the network hook, whose source is a real
 * `DataPlane` on `FakeKernel`. Task `t1` gets 10.10.1.2 on network `a`, which the sample map
 * lists as endpoint `t1` of `web`.
 */
async function node() {
  const runtimeDir = await mkdtemp(join(tmpdir(), 'flotilla-drain-'));
  dirs.push(runtimeDir);
  const clock = new FakeClock();
  const k = new FakeKernel();
  k.addLink('eth0', {});
  const plane = new DataPlane({ clock, logger: silentLogger, nodeId: 'n1', underlay: { addr: '10.198.0.11', dev: 'eth0', mtu: 1500 }, bridges: kernelBridges(k), runner: k });
  const ipam = new HostIpam();
  const hook = networkHook({ source: plane, ipam, runtimeDir, clock, logger: silentLogger }, { drainMs: 1_000 });
  const host = new FakeHost();
  const reports: TaskStatus[] = [];
  const deps = { driver: new FakeDriver({ nodeId: 'n1', clock, host }), clock, logger: silentLogger, hooks: [hook], report: (_id: string, s: TaskStatus) => void reports.push(s) };
  plane.start();
  plane.setMap(sampleMap(1));
  await clock.advance(25);
  await plane.whenIdle();
  const served = (): boolean => k.tables.get('nat')?.has(endpointChain('svcweb', NET_A.id, 't1')) === true;
  const settle = async (): Promise<void> => {
    await clock.advance(25);
    await plane.whenIdle();
  };
  const run = async (env: string[] = []): Promise<{ task: Task; runner: TaskRunner }> => {
    const base = makeTask({ id: 't1', nodeId: 'n1', status: { state: 'assigned' } });
    const task: Task = { ...base, networks: [{ networkId: NET_A.id, name: NET_A.name, aliases: [] }], spec: { ...base.spec, driver: 'fake', container: { ...base.spec.container, env, stopGracePeriodMs: 1_000 } } };
    const runner = new TaskRunner(deps, task);
    await until(clock, () => reports.at(-1)?.state === 'running', 'the task running');
    assert.equal(reports.at(-1)?.networks?.[0]?.addr, '10.10.1.2/16');
    assert.ok(served(), 'the map lists it');
    return { task, runner };
  };
  return { clock, k, plane, host, reports, served, settle, run };
}

describe('the network hook drains a local task (fake driver, fake kernel)', () => {
  it('a stopping task leaves the rules before its stop signal, and gets it after the drain time', async () => {
    const { clock, k, plane, host, reports, served, settle, run } = await node();
    const { task, runner } = await run();
    const before = k.commands.length;
    runner.update({ ...task, desiredState: 'shutdown' });
    await settle();
    assert.equal(served(), false, 'out of the load balancers');
    assert.ok(k.commands.slice(before).some((c) => c.argv[0] === 'conntrack' && c.argv.includes('10.10.1.2')), 'its UDP flows deleted');
    assert.equal(host.processes.get('t1')?.state, 'running', 'still running: draining');
    await clock.advance(1_000);
    await until(clock, () => reports.at(-1)?.state === 'shutdown', 'the stop');
    assert.notEqual(host.processes.get('t1')?.state, 'running');
    await plane.stop();
  });

  it('a task that dies is out at once, stays out while the maps lag, and is served again by a map listing it after one without it', async () => {
    const { clock, plane, reports, served, settle, run } = await node();
    await run(['FAKE_RUN_MS=500', 'FAKE_EXIT_CODE=1']);
    await clock.advance(500);
    assert.equal(reports.at(-1)?.state, 'failed');
    await settle();
    assert.equal(served(), false, 'out before the manager heard');
    plane.setMap(sampleMap(2)); // computed before the manager heard: still lists t1
    await settle();
    assert.equal(served(), false);
    const without: NetworkMap = sampleMap(3);
    for (const s of without.services) s.endpoints = s.endpoints.filter((e) => e.taskId !== 't1');
    plane.setMap(without);
    await settle();
    plane.setMap(sampleMap(4)); // listed again (the map says so): served, nothing stuck
    await settle();
    assert.equal(served(), true);
    await plane.stop();
  });

  it('a task that turns unhealthy is out at once, then stopped without the drain wait', async () => {
    const { clock, plane, host, reports, served, settle, run } = await node();
    await run(['FAKE_HEALTH=healthy:1000,unhealthy']);
    await clock.advance(1_000);
    assert.equal(reports.at(-1)?.state, 'failed');
    await settle();
    assert.equal(served(), false);
    await until(clock, () => host.processes.get('t1')?.state === 'exited', 'the stop');
    await plane.stop();
  });
});
