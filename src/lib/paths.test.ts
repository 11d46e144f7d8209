import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveDataDir, socketPath, statePath } from './paths.ts';

describe('resolveDataDir', () => {
  it('prefers --data-dir, then $FLOTILLA_HOME, then ~/.flotilla', () => {
    assert.equal(resolveDataDir({ flag: '/a', env: { FLOTILLA_HOME: '/b' }, home: '/h' }), '/a');
    assert.equal(resolveDataDir({ env: { FLOTILLA_HOME: '/b' }, home: '/h' }), '/b');
    assert.equal(resolveDataDir({ env: {}, home: '/h' }), '/h/.flotilla');
    assert.equal(resolveDataDir({ flag: '', env: { FLOTILLA_HOME: '' }, home: '/h' }), '/h/.flotilla');
  });
  it('names the files inside', () => {
    assert.equal(socketPath('/d'), '/d/flotilla.sock');
    assert.equal(statePath('/d'), '/d/state.db');
  });
});
