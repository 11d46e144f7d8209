import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { judge, STARTING, type CheckState, type HealthTiming } from './judge.ts';

const timing: HealthTiming = { intervalMs: 1_000, timeoutMs: 500, retries: 3, startPeriodMs: 0 };
const pass = { ok: true, output: '' };
const fail = { ok: false, output: 'no' };

function run(results: boolean[], startPeriod: boolean[] = []): CheckState[] {
  let s = STARTING;
  return results.map((ok, i) => (s = judge(s, ok ? pass : fail, timing, startPeriod[i] ?? false)));
}

void describe('judge', () => {
  void it('turns healthy on the first pass', () => {
    assert.deepEqual(run([true]).at(-1), { health: 'healthy', failures: 0 });
  });

  void it('turns unhealthy after `retries` consecutive failures, not before', () => {
    assert.deepEqual(run([false, false]).map((s) => s.health), ['starting', 'starting']);
    assert.deepEqual(run([false, false, false]).at(-1), { health: 'unhealthy', failures: 3 });
    assert.deepEqual(run([true, false, false, true, false, false]).map((s) => s.health), [
      'healthy', 'healthy', 'healthy', 'healthy', 'healthy', 'healthy',
    ]);
    assert.equal(run([true, false, false, false]).at(-1)?.health, 'unhealthy');
  });

  void it('recovers from unhealthy on a pass, as Docker does', () => {
    assert.deepEqual(run([false, false, false, true]).at(-1), { health: 'healthy', failures: 0 });
  });

  void it('does not count failures in the start period until the first pass', () => {
    const inStart = [true, true, true, true];
    assert.deepEqual(run([false, false, false, false], inStart).at(-1), STARTING);
    // After a pass inside the start period, failures count again.
    assert.deepEqual(run([true, false, false, false], inStart).map((s) => s.health), ['healthy', 'healthy', 'healthy', 'unhealthy']);
    // Failures after the start period count from zero.
    assert.deepEqual(run([false, false, false, false, false], [true, true, false, false, false]).map((s) => s.failures), [0, 0, 1, 2, 3]);
  });

  void it('treats retries below 1 as 1', () => {
    assert.equal(judge(STARTING, fail, { ...timing, retries: 0 }, false).health, 'unhealthy');
  });
});
