import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusMessage } from '../api/agent-protocol.ts';
import type { TaskState, TaskStatus } from '../api/task.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { StatusReporter } from './status-reporter.ts';

const st = (state: TaskState): TaskStatus => ({ state, message: state, timestamp: '2026-01-01T00:00:00.000Z' });

void describe('StatusReporter', () => {
  void it('batches, keeps the latest per task, and forgets only what was acknowledged', async () => {
    const clock = new FakeClock();
    const r = new StatusReporter({ clock }, { batchMs: 20 });
    const sent: StatusMessage[] = [];
    r.attach((m) => sent.push(m));
    r.report('t1', st('accepted'));
    r.report('t1', st('preparing'));
    r.report('t2', st('accepted'));
    assert.equal(sent.length, 0, 'collected, not sent at once');
    await clock.advance(20);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]!.updates.map((u) => [u.taskId, u.status.state]), [['t1', 'preparing'], ['t2', 'accepted']]);

    r.report('t1', st('running')); // newer than the in-flight one
    r.ack(sent[0]!.seq);
    assert.equal(r.pendingCount, 1, 't2 acknowledged; t1 has a newer status');
    assert.equal(r.pending('t1')?.state, 'running');
  });

  void it('holds reports while detached and re-sends unacknowledged ones on the next session', async () => {
    const clock = new FakeClock();
    const r = new StatusReporter({ clock }, { batchMs: 20 });
    const first: StatusMessage[] = [];
    r.attach((m) => first.push(m));
    r.report('t1', st('running'));
    await clock.advance(20);
    assert.equal(first.length, 1);
    r.detach();
    r.report('t2', st('failed'));
    await clock.advance(100);
    const second: StatusMessage[] = [];
    r.attach((m) => second.push(m));
    assert.equal(second.length, 1);
    assert.deepEqual(second[0]!.updates.map((u) => u.taskId).sort(), ['t1', 't2']);
    r.ack(first[0]!.seq); // a stale ack from the old session changes nothing
    assert.equal(r.pendingCount, 2);
    r.ack(second[0]!.seq);
    assert.equal(r.pendingCount, 0);
  });
});
