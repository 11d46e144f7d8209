import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TaskState, TaskStatus } from '../../api/task.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { judgeStatus } from './status-filter.ts';

const at = '2026-01-01T00:00:01.000Z';
const status = (state: TaskState, extra: Partial<TaskStatus> = {}): TaskStatus => ({ state, timestamp: at, message: state, ...extra });

void describe('judgeStatus', () => {
  const task = makeTask({ nodeId: 'n1', status: { state: 'assigned' } });

  void it('applies a forward move from the task’s node', () => {
    assert.equal(judgeStatus(task, 'n1', status('accepted')), 'apply');
    assert.equal(judgeStatus(task, 'n1', status('running', { containerId: 'c1' })), 'apply');
  });

  void it('ignores unknown tasks, other nodes and manager-owned states', () => {
    assert.equal(judgeStatus(undefined, 'n1', status('running')), 'unknown_task');
    assert.equal(judgeStatus(task, 'n2', status('running')), 'wrong_node');
    assert.equal(judgeStatus(task, 'n1', status('orphaned')), 'not_agent_state');
    assert.equal(judgeStatus(task, 'n1', status('pending')), 'not_agent_state');
  });

  void it('never moves a task backwards or past a terminal state', () => {
    const running = makeTask({ nodeId: 'n1', status: { state: 'running', containerId: 'c1' } });
    assert.equal(judgeStatus(running, 'n1', status('starting')), 'backwards');
    const failed = makeTask({ nodeId: 'n1', status: { state: 'failed' } });
    assert.equal(judgeStatus(failed, 'n1', status('rejected')), 'backwards');
    const complete = makeTask({ nodeId: 'n1', status: { state: 'complete' } });
    assert.equal(judgeStatus(complete, 'n1', status('shutdown')), 'backwards');
    assert.equal(judgeStatus(complete, 'n1', status('complete', { message: 'other' })), 'unchanged');
  });

  void it('applies a same-state refinement but not a repeat', () => {
    const running = makeTask({ nodeId: 'n1', status: { state: 'running', message: 'running', containerId: 'c1' } });
    assert.equal(judgeStatus(running, 'n1', status('running', { containerId: 'c1' })), 'unchanged');
    assert.equal(judgeStatus(running, 'n1', status('running', { containerId: 'c2' })), 'apply');
    // A health change is a refinement of the same state (the message may stay the same).
    assert.equal(judgeStatus(running, 'n1', status('running', { containerId: 'c1', health: 'healthy' })), 'apply');
    // So is an address on a network (the network map's endpoints need it).
    const addr = { networkId: 'net1', addr: '10.0.1.2/16' };
    assert.equal(judgeStatus(running, 'n1', status('running', { containerId: 'c1', networks: [addr] })), 'apply');
    const attached = makeTask({ nodeId: 'n1', status: { state: 'running', message: 'running', containerId: 'c1', networks: [addr] } });
    assert.equal(judgeStatus(attached, 'n1', status('running', { containerId: 'c1', networks: [{ ...addr }] })), 'unchanged');
  });
});
