import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextAction, type Phase, type Want } from './phase.ts';

void describe('nextAction', () => {
  void it('runs a task forward while it is wanted running', () => {
    assert.equal(nextAction('assigned', 'running'), 'prepare');
    assert.equal(nextAction('prepared', 'running'), 'start');
    assert.equal(nextAction('running', 'running'), 'wait');
    for (const p of ['exited', 'stopped', 'rejected', 'removed'] as Phase[]) assert.equal(nextAction(p, 'running'), 'wait');
  });

  void it('stops a running task on shutdown and never starts one', () => {
    assert.equal(nextAction('assigned', 'shutdown'), 'finish');
    assert.equal(nextAction('prepared', 'shutdown'), 'finish');
    assert.equal(nextAction('running', 'shutdown'), 'stop');
    assert.equal(nextAction('exited', 'shutdown'), 'wait');
  });

  void it('stops then removes on remove, and is done once a gone task is removed', () => {
    for (const w of ['remove', 'gone'] as Want[]) {
      assert.equal(nextAction('running', w), 'stop');
      for (const p of ['assigned', 'prepared', 'exited', 'stopped', 'rejected'] as Phase[]) assert.equal(nextAction(p, w), 'remove');
    }
    assert.equal(nextAction('removed', 'remove'), 'wait');
    assert.equal(nextAction('removed', 'gone'), 'done');
  });
});
