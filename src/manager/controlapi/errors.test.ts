import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendError } from '../../store/backend.ts';
import { StoreError } from '../../store/errors.ts';
import { ApiError } from '../../api/errors.ts';
import { toApiError, translateStoreErrors, WRITE_ATTEMPTS } from './errors.ts';

void describe('toApiError', () => {
  void it('translates store and backend errors to API codes', () => {
    assert.equal(toApiError(new StoreError('conflict', 'x')).code, 'conflict');
    const down = toApiError(new BackendError('unavailable', 'store unavailable: etcd at h:2379 did not answer'));
    assert.equal(down.code, 'unavailable');
    assert.match(down.message, /^store unavailable: /);
    assert.equal(toApiError(new BackendError('too_large', 'too big')).code, 'invalid_argument');
    assert.equal(toApiError(new BackendError('internal', 'boom')).code, 'internal');
  });
});

void describe('translateStoreErrors', () => {
  void it('runs a write that lost a race with another writer again, and returns its result', async () => {
    let runs = 0;
    const result = await translateStoreErrors(async () => {
      runs++;
      if (runs < 3) throw new StoreError('conflict', 'service s1 was changed by another writer');
      return 'written';
    }, { conflict: 'stack app changed while it was being removed: retry' });
    assert.equal(result, 'written');
    assert.equal(runs, 3);
  });

  void it('gives up after WRITE_ATTEMPTS with the route’s message; never retries a stale version the request named, or another error', async () => {
    let runs = 0;
    const lost = translateStoreErrors(async () => {
      runs++;
      throw new StoreError('conflict', 'raced');
    }, { conflict: 'stack app changed while it was being removed: retry' });
    await assert.rejects(lost, (e: unknown) => e instanceof ApiError && e.code === 'conflict' && /while it was being removed/.test(e.message));
    assert.equal(runs, WRITE_ATTEMPTS);
    for (const err of [new ApiError('conflict', 'service web changed since version 3'), new StoreError('already_exists', 'taken')]) {
      runs = 0;
      await assert.rejects(
        translateStoreErrors(async () => {
          runs++;
          throw err;
        }, {}),
        (e: unknown) => e instanceof ApiError && e.code === (err.code === 'conflict' ? 'conflict' : 'already_exists'),
      );
      assert.equal(runs, 1);
    }
  });
});
