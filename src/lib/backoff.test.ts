import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, backoffDelay, compileBackoff } from './backoff.ts';

void test('backoff grows by the factor and stops at the cap', () => {
  const b = compileBackoff({ initialMs: 100, maxMs: 1_000, factor: 2 });
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, b)),
    [100, 200, 400, 800, 1_000, 1_000],
  );
  assert.equal(backoffDelay(10_000, b), 1_000, 'huge attempt counts stay capped, not Infinity');
  assert.equal(backoffDelay(0, b), 100, 'attempts below 1 count as the first');
});

void test('jitter only shortens a delay, within the given fraction', () => {
  const b = compileBackoff({ initialMs: 1_000, maxMs: 1_000, jitter: 0.5, random: () => 0.999 });
  const d = backoffDelay(1, b);
  assert.ok(d >= 500 && d <= 1_000, `got ${d}`);
  assert.equal(backoffDelay(1, compileBackoff({ initialMs: 1_000, jitter: 0.5, random: () => 0 })), 1_000);
});

void test('compileBackoff refuses nonsense with the field named', () => {
  assert.throws(() => compileBackoff({ initialMs: -1 }), /initialMs/);
  assert.throws(() => compileBackoff({ initialMs: 10, maxMs: 5 }), /maxMs/);
  assert.throws(() => compileBackoff({ factor: 0.5 }), /factor/);
  assert.throws(() => compileBackoff({ jitter: 2 }), /jitter/);
});

void test('Backoff counts failures and resets', () => {
  const b = new Backoff({ initialMs: 10, maxMs: 100 });
  assert.deepEqual([b.next(), b.next(), b.next()], [10, 20, 40]);
  assert.equal(b.attempts, 3);
  b.reset();
  assert.equal(b.next(), 10);
});
