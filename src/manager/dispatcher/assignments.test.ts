import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeTask } from '../../testing/fixtures.ts';
import { affectsAssignments, diffAssignments, type SentTask } from './assignments.ts';

void describe('diffAssignments', () => {
  void it('sends assigned tasks once, then only desired-state changes and removals', () => {
    const a = makeTask({ id: 'a', nodeId: 'n1', status: { state: 'assigned' } });
    const b = makeTask({ id: 'b', nodeId: 'n1', status: { state: 'running' } });
    const pending = makeTask({ id: 'p', nodeId: 'n1', status: { state: 'pending' } });
    const other = makeTask({ id: 'o', nodeId: 'n2', status: { state: 'assigned' } });
    const sent = new Map<string, SentTask>();

    const first = diffAssignments([a, b, pending, other], 'n1', sent);
    assert.deepEqual(first.tasks.map((t) => t.id).sort(), ['a', 'b']);
    assert.deepEqual(first.removed, []);

    const again = diffAssignments([a, { ...b, status: { ...b.status, message: 'x' } }], 'n1', sent);
    assert.deepEqual(again, { tasks: [], removed: [] });

    const stopped = { ...a, desiredState: 'shutdown' as const };
    const third = diffAssignments([stopped], 'n1', sent);
    assert.deepEqual(third.tasks.map((t) => t.id), ['a']);
    assert.deepEqual(third.removed, ['b']);
    assert.deepEqual([...sent.keys()], ['a']);
  });
});

void describe('affectsAssignments', () => {
  const t = makeTask({ nodeId: 'n1', status: { state: 'running' } });
  void it('ignores status-only changes', () => {
    assert.equal(affectsAssignments(t, { ...t, status: { ...t.status, message: 'ok' } }), false);
  });
  void it('sees creation, deletion, node and desired-state changes, and reaching assigned', () => {
    assert.equal(affectsAssignments(undefined, t), true);
    assert.equal(affectsAssignments(t, undefined), true);
    assert.equal(affectsAssignments(t, { ...t, nodeId: 'n2' }), true);
    assert.equal(affectsAssignments(t, { ...t, desiredState: 'shutdown' }), true);
    const p = makeTask({ nodeId: 'n1', status: { state: 'pending' } });
    assert.equal(affectsAssignments(p, { ...p, status: { ...p.status, state: 'assigned' } }), true);
  });
});
