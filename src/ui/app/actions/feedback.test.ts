import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../../../client/errors.ts';
import { errorText } from './feedback.ts';

describe('errorText', () => {
  it('shows the API’s code and message plainly', () => {
    assert.equal(errorText(new ClientError('conflict', 'service web changed since version 4: read it again', { status: 409 })), 'conflict: service web changed since version 4: read it again');
    assert.equal(errorText(new Error('boom')), 'error: boom');
  });
});
