import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { systemClock } from '../../../lib/clock.ts';
import { FakeClock } from '../../../testing/fake-clock.ts';
import { runDriverConformance } from '../conformance.ts';
import { isDriverError } from '../driver.ts';
import { driverTask, TRAPPED_EXIT, type TaskBehaviour } from '../sample-tasks.ts';
import { FakeHost } from './fake-host.ts';
import { FakeDriver } from './fake-driver.ts';

const NODE = 'node-fake-1';

/** Conformance behaviours as fake knobs. */
function fakeEnv(b: TaskBehaviour): string[] {
  switch (b.kind) {
    case 'exit':
      return ['FAKE_RUN_MS=0', `FAKE_EXIT_CODE=${b.code}`];
    case 'serve':
      return ['FAKE_STDOUT=ready', `FAKE_TRAP=SIGTERM=${TRAPPED_EXIT.SIGTERM},SIGUSR1=${TRAPPED_EXIT.SIGUSR1}`];
    case 'ignore-stop':
      return ['FAKE_STDOUT=ready', 'FAKE_IGNORE_STOP=1'];
    case 'print':
      return ['FAKE_STDOUT=out-1\\nout-2', 'FAKE_STDERR=err-1', 'FAKE_RUN_MS=0'];
    case 'tick':
      return ['FAKE_TICK_MS=100', `FAKE_TICKS=${b.count}`];
    case 'bad':
      return ['FAKE_PREPARE_ERROR=No such image: flotilla/nope:latest'];
  }
}

const sharedHost = new FakeHost();
runDriverConformance(
  'fake',
  () => new FakeDriver({ nodeId: NODE, clock: systemClock, host: sharedHost }),
  (id, b) => driverTask({ id, nodeId: NODE, driver: 'fake', container: { env: fakeEnv(b) } }),
);

void describe('FakeDriver knobs (fake clock)', () => {
  const setup = (): { clock: FakeClock; driver: FakeDriver } => {
    const clock = new FakeClock();
    return { clock, driver: new FakeDriver({ nodeId: NODE, clock }) };
  };
  const task = (id: string, env: string[]) => driverTask({ id, nodeId: NODE, driver: 'fake', container: { env } });

  void test('FAKE_RUN_MS and FAKE_EXIT_CODE: exits after the time with the code', async () => {
    const { clock, driver } = setup();
    await driver.prepare(task('t1', ['FAKE_RUN_MS=5000', 'FAKE_EXIT_CODE=2']));
    await driver.start('t1');
    let exited = false;
    const waiting = driver.wait('t1').then((r) => ((exited = true), r));
    await clock.advance(4_999);
    assert.equal(exited, false);
    assert.equal((await driver.inspect('t1'))?.state, 'running');
    await clock.advance(1);
    assert.deepEqual(await waiting, { exitCode: 2 });
  });

  void test('without FAKE_RUN_MS a task runs until stopped; default stop exit is 128 + signal', async () => {
    const { clock, driver } = setup();
    await driver.prepare(task('t1', []));
    await driver.start('t1');
    await clock.advance(1_000_000);
    assert.equal((await driver.inspect('t1'))?.state, 'running');
    await driver.stop('t1', { signal: 'TERM', gracePeriodMs: 10_000 });
    assert.deepEqual(await driver.wait('t1'), { exitCode: 143 });
  });

  void test('FAKE_PREPARE_MS delays prepare; FAKE_PREPARE_ERROR rejects it as image_not_found', async () => {
    const { clock, driver } = setup();
    let prepared = false;
    const p = driver.prepare(task('t1', ['FAKE_PREPARE_MS=300'])).then(() => (prepared = true));
    await clock.advance(299);
    assert.equal(prepared, false);
    await clock.advance(1);
    await p;
    await assert.rejects(driver.prepare(task('t2', ['FAKE_PREPARE_ERROR=No such image: x'])), (e) =>
      isDriverError(e) && e.code === 'image_not_found' && e.message === 'No such image: x');
    assert.equal(await driver.inspect('t2'), undefined);
  });

  void test('FAKE_START_ERROR rejects start with start_failed', async () => {
    const { driver } = setup();
    await driver.prepare(task('t1', ['FAKE_START_ERROR=exec format error']));
    await assert.rejects(driver.start('t1'), (e) => isDriverError(e) && e.code === 'start_failed');
    assert.equal((await driver.inspect('t1'))?.state, 'created');
  });

  void test('FAKE_IGNORE_STOP: killed exactly when the grace period ends', async () => {
    const { clock, driver } = setup();
    await driver.prepare(task('t1', ['FAKE_IGNORE_STOP=1']));
    await driver.start('t1');
    let stopped = false;
    const stopping = driver.stop('t1', { signal: 'SIGTERM', gracePeriodMs: 2_000 }).then(() => (stopped = true));
    await clock.advance(1_999);
    assert.equal(stopped, false);
    await clock.advance(1);
    await stopping;
    const r = await driver.wait('t1');
    assert.equal(r.exitCode, 137);
    assert.match(r.reason ?? '', /SIGKILL/);
  });

  void test('FAKE_STOP_MS longer than the grace period is cut short by the kill', async () => {
    const { clock, driver } = setup();
    await driver.prepare(task('slow', ['FAKE_STOP_MS=5000']));
    await driver.prepare(task('fast', ['FAKE_STOP_MS=500']));
    await driver.start('slow');
    await driver.start('fast');
    const a = driver.stop('slow', { signal: 'SIGTERM', gracePeriodMs: 1_000 });
    const b = driver.stop('fast', { signal: 'SIGTERM', gracePeriodMs: 1_000 });
    await clock.advance(1_000);
    await Promise.all([a, b]);
    assert.equal((await driver.wait('slow')).exitCode, 137);
    assert.equal((await driver.wait('fast')).exitCode, 143);
  });

  void test('FAKE_TICK_MS writes ticks with the clock time; FAKE_TICKS ends the task', async () => {
    const { clock, driver } = setup();
    await driver.prepare(task('t1', ['FAKE_TICK_MS=1000', 'FAKE_TICKS=3']));
    await driver.start('t1');
    await clock.advance(2_000);
    const lines = [];
    for await (const l of driver.logs('t1', { follow: false })) lines.push(l);
    assert.deepEqual(lines.map((l) => [l.line, l.time]), [
      ['tick-0', new Date(clock.now() - 2_000).toISOString()],
      ['tick-1', new Date(clock.now() - 1_000).toISOString()],
      ['tick-2', new Date(clock.now()).toISOString()],
    ]);
    assert.deepEqual(await driver.wait('t1'), { exitCode: 0 });
  });

  void test('a new driver on the same FakeHost recovers only its node’s tasks', async () => {
    const clock = new FakeClock();
    const host = new FakeHost();
    const a = new FakeDriver({ nodeId: 'n1', clock, host });
    await a.prepare(driverTask({ id: 'mine', nodeId: 'n1', driver: 'fake' }));
    await a.start('mine');
    await a.prepare(driverTask({ id: 'theirs', nodeId: 'n2', driver: 'fake' }));
    const b = new FakeDriver({ nodeId: 'n1', clock, host });
    assert.deepEqual((await b.recover()).map((i) => [i.taskId, i.state]), [['mine', 'running']]);
    assert.equal(host.crash('mine', 1, 'segfault'), true);
    assert.deepEqual(await b.wait('mine'), { exitCode: 1, reason: 'segfault' });
  });

  void test('a bad knob value is an invalid_spec error naming the knob', async () => {
    const { driver } = setup();
    await assert.rejects(driver.prepare(task('t1', ['FAKE_RUN_MS=soon'])), (e) =>
      isDriverError(e) && e.code === 'invalid_spec' && e.message.includes('FAKE_RUN_MS'));
    await assert.rejects(driver.prepare(task('t2', ['FAKE_RUNMS=1'])), (e) =>
      isDriverError(e) && e.code === 'invalid_spec' && e.message.includes('FAKE_RUNMS'));
  });

  void test('FAKE_HEALTH schedules the health the driver reports; host.setHealth overrides it', async () => {
    const { clock, driver } = setup();
    await driver.prepare(task('t1', ['FAKE_HEALTH=starting:1000,healthy:2000,unhealthy']));
    assert.equal(await driver.health('t1'), undefined, 'no health before it starts');
    await driver.start('t1');
    assert.deepEqual(await driver.health('t1'), { status: 'starting' });
    await clock.advance(1_000);
    assert.deepEqual(await driver.health('t1'), { status: 'healthy' });
    await clock.advance(2_000);
    assert.deepEqual(await driver.health('t1'), { status: 'unhealthy', output: 'fake health check failed' });
    driver.host.setHealth('t1', { status: 'healthy' });
    assert.deepEqual(await driver.health('t1'), { status: 'healthy' });
    await driver.prepare(task('t2', []));
    await driver.start('t2');
    assert.equal(await driver.health('t2'), undefined, 'no knob: no health check');
    for (const bad of ['great', 'healthy,unhealthy', 'starting:x']) {
      await assert.rejects(driver.prepare(task(`bad-${bad}`, [`FAKE_HEALTH=${bad}`])), (e) =>
        isDriverError(e) && e.code === 'invalid_spec' && e.message.includes('FAKE_HEALTH'));
    }
  });

  void test('wait honours its abort signal', async () => {
    const { driver } = setup();
    await driver.prepare(task('t1', []));
    await driver.start('t1');
    const ac = new AbortController();
    const w = driver.wait('t1', ac.signal);
    ac.abort(new Error('agent stopping'));
    await assert.rejects(w, /agent stopping/);
  });

  void test('two thousand tasks are cheap', async () => {
    const { clock, driver } = setup();
    for (let i = 0; i < 2_000; i++) {
      await driver.prepare(task(`t${i}`, ['FAKE_RUN_MS=1000']));
      await driver.start(`t${i}`);
    }
    await clock.advance(1_000);
    assert.equal((await driver.recover()).filter((i) => i.state === 'exited').length, 2_000);
  });
});
