import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../testing/fake-clock.ts';
import { WorkQueue, type ReconcileResult } from './work-queue.ts';

/** A promise with its resolver, to hold a reconciler open. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => {};
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

void test('a key marked many times is reconciled once', async () => {
  const clock = new FakeClock();
  const seen: string[] = [];
  const q = new WorkQueue<string>({ clock, reconcile: async (k) => void seen.push(k) });
  q.add('a');
  q.add('a');
  q.add('b');
  q.add('a');
  await q.whenIdle();
  assert.deepEqual(seen, ['a', 'b']);
  await q.stop();
});

void test('one worker per key; a key marked while running runs again afterwards', async () => {
  const clock = new FakeClock();
  const g = gate();
  let running = 0;
  let maxRunning = 0;
  let calls = 0;
  const q = new WorkQueue<string>(
    {
      clock,
      reconcile: async () => {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        if (calls === 1) await g.promise;
        running--;
      },
    },
    { concurrency: 4 },
  );
  q.add('a');
  await new Promise((r) => setImmediate(r));
  q.add('a');
  q.add('a');
  await new Promise((r) => setImmediate(r));
  assert.equal(calls, 1, 'second run waits for the first');
  g.open();
  await q.whenIdle();
  assert.equal(calls, 2);
  assert.equal(maxRunning, 1);
  await q.stop();
});

void test('different keys run concurrently up to the limit', async () => {
  const clock = new FakeClock();
  const g = gate();
  let running = 0;
  let maxRunning = 0;
  const q = new WorkQueue<number>(
    {
      clock,
      reconcile: async () => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await g.promise;
        running--;
      },
    },
    { concurrency: 2 },
  );
  for (let i = 0; i < 5; i++) q.add(i);
  await new Promise((r) => setImmediate(r));
  assert.equal(running, 2);
  g.open();
  await q.whenIdle();
  assert.equal(maxRunning, 2);
  await q.stop();
});

void test('a failing key is retried with growing delays through the clock, and reset on success', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const retries: number[] = [];
  const q = new WorkQueue<string>(
    {
      clock,
      reconcile: async () => {
        calls++;
        if (calls <= 3) throw new Error('conflict');
      },
    },
    { retry: { initialMs: 100, maxMs: 1_000 }, onError: (_k, _e, _n, ms) => retries.push(ms) },
  );
  q.add('k');
  await q.whenIdle();
  assert.equal(calls, 1);
  assert.equal(q.delayedCount, 1);
  await clock.advance(99);
  assert.equal(calls, 1, 'not before the delay');
  await clock.advance(1);
  await q.whenIdle();
  assert.equal(calls, 2);
  await clock.advance(200);
  await q.whenIdle();
  assert.equal(calls, 3);
  await clock.advance(400);
  await q.whenIdle();
  assert.equal(calls, 4);
  assert.deepEqual(retries, [100, 200, 400]);
  assert.equal(q.delayedCount, 0);
  await q.stop();
});

void test('requeueAfterMs calls the key again later; the earliest timer wins', async () => {
  const clock = new FakeClock();
  const times: number[] = [];
  const start = clock.now();
  const q = new WorkQueue<string>({
    clock,
    reconcile: async (): Promise<ReconcileResult | void> => {
      times.push(clock.now() - start);
      if (times.length === 1) return { requeueAfterMs: 1_000 };
    },
  });
  q.add('k');
  await q.whenIdle();
  q.addAfter('k', 5_000);
  q.addAfter('k', 500);
  await clock.advance(500);
  await q.whenIdle();
  await clock.advance(5_000);
  await q.whenIdle();
  assert.deepEqual(times, [0, 500], 'the 1 s and 5 s requests were superseded by the 500 ms one');
  await q.stop();
});

void test('stop waits for running work, cancels timers and ignores later adds', async () => {
  const clock = new FakeClock();
  const g = gate();
  let finished = false;
  const q = new WorkQueue<string>({
    clock,
    reconcile: async () => {
      await g.promise;
      finished = true;
    },
  });
  q.add('a');
  q.addAfter('b', 1_000);
  await new Promise((r) => setImmediate(r));
  const stopped = q.stop();
  g.open();
  await stopped;
  assert.equal(finished, true);
  assert.equal(clock.pendingTimers, 0);
  q.add('c');
  assert.equal(q.length, 0);
  await q.stop();
  assert.equal(q.state, 'stopped');
});

void test('work never starts inside the caller of add', async () => {
  const clock = new FakeClock();
  let calls = 0;
  const q = new WorkQueue<string>({ clock, reconcile: async () => void calls++ });
  q.add('a');
  assert.equal(calls, 0);
  await q.whenIdle();
  assert.equal(calls, 1);
  await q.stop();
});
