import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EtcdError, GRPCCancelledError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { toBackendError } from './connect.ts';
import { HOST_PAUSE_MS, HostBreaker, isMemberFailure } from './host-breaker.ts';

/** A clock whose time the test sets. */
function testClock(start = 1_000): { now(): number; t: number } {
  const c = { t: start, now: () => c.t };
  return c;
}

/** A group of `n` breakers of one client's members, on `clock`. */
function group(n: number, clock: { now(): number }): HostBreaker[] {
  const members: HostBreaker[] = [];
  for (let i = 0; i < n; i++) new HostBreaker(clock, members);
  return members;
}

const fail = (err: Error) => (): Promise<never> => Promise.reject(err);

void describe('HostBreaker (the etcd client’s policy for one member)', () => {
  void it('passes a member over for a while after a call past its deadline (a member cut off) while another is usable, then tries it again', async () => {
    const clock = testClock();
    const [a, b] = group(2, clock) as [HostBreaker, HostBreaker];
    assert.equal(await a.execute(() => 'ok'), 'ok');
    await assert.rejects(a.execute(fail(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'))));
    assert.equal(a.open, true);
    assert.equal(b.open, false);
    let called = false;
    await assert.rejects(
      a.execute(() => {
        called = true;
        return 'no';
      }),
      (err: unknown) => {
        assert.equal((err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError, true);
        const be = toBackendError(err, ['m:2379']);
        assert.equal(be.code, 'unavailable');
        // The real cause, not "passed over".
        assert.match(be.message, /DEADLINE_EXCEEDED/);
        assert.doesNotMatch(be.message, /passed over/);
        return true;
      },
    );
    assert.equal(called, false, 'not called while passed over');
    clock.t += HOST_PAUSE_MS;
    assert.equal(a.open, false);
    assert.equal(await a.execute(() => 'back'), 'back');
  });

  void it('a transport failure passes it over too; an answer of etcd’s does not, nor a cancel (ours)', async () => {
    const clock = testClock();
    const [a] = group(2, clock) as [HostBreaker, HostBreaker];
    await assert.rejects(a.execute(fail(new EtcdError('etcdserver: mvcc: required revision has been compacted'))));
    assert.equal(a.open, false);
    await assert.rejects(a.execute(fail(new GRPCCancelledError('1 CANCELLED: Cancelled on client'))));
    assert.equal(a.open, false, 'a cancelled call or stream is no failure of the member');
    await assert.rejects(a.execute(fail(Object.assign(new Error('1 CANCELLED: Cancelled on client'), { code: 1 }))));
    assert.equal(a.open, false, 'nor grpc-js’s raw CANCELLED');
    await assert.rejects(a.execute(fail(new GRPCUnavailableError('14 UNAVAILABLE: No connection established'))));
    assert.equal(a.open, true);
    assert.equal(isMemberFailure(new GRPCCancelledError('1 CANCELLED: Cancelled on client')), false);
  });

  void it('a lone member is never passed over: every call is made and fails with its own error', async () => {
    const clock = testClock();
    const [a] = group(1, clock) as [HostBreaker];
    await assert.rejects(a.execute(fail(new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED'))));
    assert.equal(a.paused, true);
    assert.equal(a.open, false);
    let calls = 0;
    await assert.rejects(
      a.execute(() => {
        calls++;
        return Promise.reject(new GRPCUnavailableError('14 UNAVAILABLE: connect ECONNREFUSED'));
      }),
      (err: unknown) => err instanceof GRPCUnavailableError,
    );
    assert.equal(calls, 1);
    assert.equal(await a.execute(() => 'up'), 'up');
    assert.equal(a.paused, false, 'an answer ends the pause');
  });

  void it('with three members all failed, calls are still made (the others are passed over only while one is usable)', async () => {
    const clock = testClock();
    const [a, b, c] = group(3, clock) as [HostBreaker, HostBreaker, HostBreaker];
    await assert.rejects(a.execute(fail(new GRPCUnavailableError('14 UNAVAILABLE'))));
    await assert.rejects(b.execute(fail(new GRPCUnavailableError('14 UNAVAILABLE'))));
    assert.deepEqual([a.open, b.open, c.open], [true, true, false], 'c is usable: a and b are passed over');
    clock.t += 1_000;
    await assert.rejects(c.execute(fail(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'))));
    assert.deepEqual([a.paused, b.paused, c.paused], [true, true, true]);
    assert.deepEqual([a.open, b.open, c.open], [false, false, false], 'all paused: none is passed over');
    assert.equal(await b.execute(() => 'b'), 'b');
    assert.deepEqual([a.open, b.open, c.open], [true, false, true], 'b answered: the others are passed over again');
  });
});
