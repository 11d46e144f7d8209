import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GRPCDeadlineExceededError, GRPCUnavailableError, EtcdError } from 'etcd3';
import { HOST_PAUSE_MS, HostBreaker, toBackendError } from './connect.ts';

describe('HostBreaker (the etcd client’s policy for one member)', () => {
  it('passes a member over for a while after a call past its deadline (a member cut off), then tries it again', async () => {
    let now = 1_000;
    const b = new HostBreaker(() => now);
    assert.equal(await b.execute(() => 'ok'), 'ok');
    await assert.rejects(b.execute(() => Promise.reject(new GRPCDeadlineExceededError('deadline'))));
    assert.equal(b.open, true);
    let called = false;
    await assert.rejects(
      b.execute(() => {
        called = true;
        return 'no';
      }),
      (err: unknown) => (err as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true && toBackendError(err, ['m:2379']).code === 'unavailable',
    );
    assert.equal(called, false, 'not called while passed over');
    now += HOST_PAUSE_MS;
    assert.equal(await b.execute(() => 'back'), 'back');
  });

  it('a transport failure passes it over too; an answer of etcd’s does not', async () => {
    const b = new HostBreaker(() => 0);
    await assert.rejects(b.execute(() => Promise.reject(new EtcdError('etcdserver: mvcc: required revision has been compacted'))));
    assert.equal(b.open, false);
    await assert.rejects(b.execute(() => Promise.reject(new GRPCUnavailableError('unavailable'))));
    assert.equal(b.open, true);
  });
});
