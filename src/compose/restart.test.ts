import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mapRestart } from './restart.ts';

describe('mapRestart: restart: as docker stack deploy maps it', () => {
  it('always and unless-stopped are the default (any); on-failure[:N]; no is none', () => {
    assert.deepEqual(mapRestart('always'), { kind: 'policy' });
    assert.deepEqual(mapRestart('unless-stopped'), { kind: 'policy' });
    assert.deepEqual(mapRestart('on-failure'), { kind: 'policy', condition: 'on-failure' });
    assert.deepEqual(mapRestart('on-failure:0'), { kind: 'policy', condition: 'on-failure' });
    assert.deepEqual(mapRestart('on-failure:5'), { kind: 'policy', condition: 'on-failure', maxAttempts: 5 });
    assert.deepEqual(mapRestart('no'), { kind: 'policy', condition: 'none' });
  });
  it('refuses what docker refuses, saying what is valid', () => {
    assert.match((mapRestart('sometimes') as { message: string }).message, /invalid restart policy "sometimes": expected "no", "always", "on-failure", "on-failure:N" or "unless-stopped"/);
    assert.match((mapRestart('always:3') as { message: string }).message, /only "on-failure" takes a maximum retry count/);
    assert.match((mapRestart('on-failure:x') as { message: string }).message, /whole number/);
    assert.equal(mapRestart(true).kind, 'invalid');
  });
});
