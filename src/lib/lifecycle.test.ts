import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Lifecycle } from './lifecycle.ts';

/** A promise and its resolver, to hold a start or a stop half-way. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('Lifecycle', () => {
  it('starts once; starting twice throws with the component name and state', () => {
    const lc = new Lifecycle('widget');
    assert.equal(lc.state, 'new');
    lc.start();
    assert.equal(lc.state, 'running');
    assert.equal(lc.running, true);
    assert.throws(() => lc.start(), { message: 'widget cannot start: it is running' });
  });

  it('takes the error a second start throws', () => {
    const lc = new Lifecycle('monitor', { startError: (s) => new RangeError(`already ${s}`) });
    lc.start();
    assert.throws(() => lc.start(), { name: 'RangeError', message: 'already running' });
  });

  it('startWith passes through starting, and rejects a second start', async () => {
    const lc = new Lifecycle('widget');
    const g = gate();
    const started = lc.startWith(() => g.promise);
    assert.equal(lc.state, 'starting');
    await assert.rejects(lc.startWith(() => {}), { message: 'widget cannot start: it is starting' });
    g.open();
    assert.equal(await started, true);
    assert.equal(lc.state, 'running');
  });

  it('a failed start ends stopped and rethrows', async () => {
    const lc = new Lifecycle('widget');
    await assert.rejects(
      lc.startWith(() => Promise.reject(new Error('no port'))),
      { message: 'no port' },
    );
    assert.equal(lc.state, 'stopped');
  });

  it('a stop during start wins: the start resolves false and never reaches running', async () => {
    const lc = new Lifecycle('widget');
    const g = gate();
    const started = lc.startWith(() => g.promise);
    const stopped = lc.stop();
    g.open();
    assert.equal(await started, false);
    await stopped;
    assert.equal(lc.state, 'stopped');
  });

  it('a stop during start runs its work only once the start settled, and resolves after it', async () => {
    const lc = new Lifecycle('widget');
    const g = gate();
    const events: string[] = [];
    const started = lc.startWith(async () => {
      await g.promise;
      events.push('start work done');
    });
    const stopped = lc.stop((from) => {
      events.push(`stop work from ${from}`);
    });
    await Promise.resolve();
    assert.deepEqual(events, [], 'the teardown waits for the start in flight');
    g.open();
    assert.equal(await started, false);
    await stopped;
    assert.deepEqual(events, ['start work done', 'stop work from starting']);
    assert.equal(lc.state, 'stopped');
  });

  it('a start that fails while a stop waits: the start rethrows, the stop still runs and ends stopped', async () => {
    const lc = new Lifecycle('widget');
    const g = gate();
    const started = lc.startWith(async () => {
      await g.promise;
      throw new Error('no port');
    });
    let ran = false;
    const stopped = lc.stop(() => {
      ran = true;
    });
    g.open();
    await assert.rejects(started, { message: 'no port' });
    await stopped;
    assert.equal(ran, true);
    assert.equal(lc.state, 'stopped');
  });

  it('stop is idempotent and awaited: one run of the work, every call waits for it', async () => {
    const lc = new Lifecycle('widget');
    lc.start();
    const g = gate();
    const froms: string[] = [];
    const first = lc.stop((from) => {
      froms.push(from);
      return g.promise;
    });
    assert.equal(lc.state, 'stopping');
    const second = lc.stop(() => assert.fail('stop work runs once'));
    assert.equal(second, first);
    let done = false;
    void second.then(() => (done = true));
    await Promise.resolve();
    assert.equal(done, false, 'the second stop waits for the first');
    g.open();
    await second;
    assert.equal(lc.state, 'stopped');
    assert.deepEqual(froms, ['running']);
    await lc.stop();
    assert.throws(() => lc.start(), { message: 'widget cannot start: it is stopped' });
  });

  it('tells the stop work it found the component new', async () => {
    const lc = new Lifecycle('widget');
    let from = '';
    await lc.stop((f) => {
      from = f;
    });
    assert.equal(from, 'new');
    assert.equal(lc.state, 'stopped');
  });

  it('ends stopped when the stop work fails, and every call sees the failure', async () => {
    const lc = new Lifecycle('widget');
    lc.start();
    await assert.rejects(lc.stop(() => Promise.reject(new Error('close failed'))), { message: 'close failed' });
    assert.equal(lc.state, 'stopped');
    await assert.rejects(lc.stop(), { message: 'close failed' });
  });
});
