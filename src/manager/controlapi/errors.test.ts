import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BackendError } from '../../store/backend.ts';
import { StoreError } from '../../store/errors.ts';
import { toApiError } from './errors.ts';

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
