import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../../testing/fake-clock.ts';
import type { HealthState } from '../drivers/driver.ts';
import type { HealthTiming, ProbeResult } from './judge.ts';
import { HealthMonitor, type Probe } from './monitor.ts';

const timing: HealthTiming = { intervalMs: 1_000, timeoutMs: 300, retries: 2, startPeriodMs: 0 };

function setup(probe: Probe, t: Partial<HealthTiming> = {}, initial?: HealthState) {
  const clock = new FakeClock();
  const changes: Array<[HealthState, string, number]> = [];
  const start = clock.now();
  const m = new HealthMonitor({ clock }, { ...timing, ...t }, probe, (h, out) => changes.push([h, out, clock.now() - start]), initial);
  return { clock, changes, m };
}

/** A probe whose results come from a list (the last one repeats); counts its calls. */
function scripted(results: boolean[]): Probe & { calls: number[] } {
  const calls: number[] = [];
  const probe: Probe = () => {
    const ok = results[Math.min(calls.length, results.length - 1)] ?? true;
    calls.push(calls.length);
    return Promise.resolve<ProbeResult>({ ok, output: ok ? 'fine' : `fail ${calls.length}` });
  };
  return Object.assign(probe, { calls });
}

void describe('HealthMonitor', () => {
  void it('reports starting, probes every interval, turns healthy and then unhealthy after retries', async () => {
    const probe = scripted([true, false, false]);
    const { clock, changes, m } = setup(probe);
    m.start();
    assert.deepEqual(changes, [['starting', '', 0]]);
    await clock.advance(999);
    assert.equal(probe.calls.length, 0, 'the first probe runs one interval after start');
    await clock.advance(1);
    assert.deepEqual(changes.at(-1), ['healthy', 'fine', 1_000]);
    await clock.advance(1_000);
    assert.deepEqual(changes.at(-1), ['healthy', 'fine', 1_000], 'one failure is below retries');
    await clock.advance(1_000);
    assert.deepEqual(changes.at(-1), ['unhealthy', 'fail 3', 3_000]);
    assert.equal(m.health, 'unhealthy');
    m.stop();
    await clock.advance(10_000);
    assert.equal(probe.calls.length, 3, 'no probe after stop');
    assert.equal(clock.pendingTimers, 0);
  });

  void it('times a hung probe out as a failure and aborts it', async () => {
    let aborted = 0;
    const hung: Probe = (signal) =>
      new Promise((resolve) => signal.addEventListener('abort', () => {
        aborted++;
        resolve({ ok: true, output: 'too late' });
      }));
    const { clock, changes, m } = setup(hung);
    m.start();
    await clock.advance(1_000 + 300);
    assert.equal(aborted, 1);
    assert.equal(changes.length, 1, 'still starting after one failure');
    // The next probe starts an interval after the previous one ended.
    await clock.advance(1_000 + 300);
    assert.deepEqual(changes.at(-1), ['unhealthy', 'health check timed out after 300ms', 2_600]);
  });

  void it('ignores failures in the start period until the first pass', async () => {
    const probe = scripted([false, false, false, false, false]);
    const { clock, changes, m } = setup(probe, { startPeriodMs: 3_500 });
    m.start();
    await clock.advance(3_000);
    assert.equal(probe.calls.length, 3);
    assert.deepEqual(changes.map((c) => c[0]), ['starting']);
    await clock.advance(2_000);
    assert.deepEqual(changes.at(-1), ['unhealthy', 'fail 5', 5_000], 'failures at 4 s and 5 s count');
  });

  void it('a probe that throws is a failure with its message', async () => {
    const { clock, changes, m } = setup(() => Promise.reject(new Error('boom')), { retries: 1 });
    m.start();
    await clock.advance(1_000);
    assert.deepEqual(changes.at(-1), ['unhealthy', 'boom', 1_000]);
  });

  void it('starts from a given health (an adopted task) and reports only changes', async () => {
    const probe = scripted([true]);
    const { clock, changes, m } = setup(probe, {}, 'healthy');
    m.start();
    await clock.advance(3_000);
    assert.deepEqual(changes, [['healthy', '', 0]]);
    assert.throws(() => m.start(), /already/);
  });

  void it('recovers from unhealthy on the next pass', async () => {
    const probe = scripted([false, false, true]);
    const { clock, changes, m } = setup(probe);
    m.start();
    await clock.advance(3_000);
    assert.deepEqual(changes.map((c) => c[0]), ['starting', 'unhealthy', 'healthy']);
  });
});
