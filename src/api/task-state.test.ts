import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskStateSchema } from './task.ts';
import {
  isAtOrAfter,
  isBefore,
  isOnNode,
  isTerminal,
  movesForward,
  NON_TERMINAL_STATES,
  ownerOf,
  stateRank,
  statesOwnedBy,
  TASK_STATE_TABLE,
  TASK_STATES,
  TERMINAL_STATES,
  type TaskStateOwner,
} from './task-state.ts';

void test('the order is total: every state has its own rank, 0 … n-1', () => {
  const ranks = TASK_STATES.map(stateRank);
  assert.deepEqual(ranks, TASK_STATES.map((_, i) => i));
  assert.equal(new Set(TASK_STATES).size, TASK_STATES.length);
  for (const a of TASK_STATES) {
    for (const b of TASK_STATES) {
      assert.equal([isBefore(a, b), a === b, isBefore(b, a)].filter(Boolean).length, 1, `${a} vs ${b}`);
      assert.equal(isAtOrAfter(a, b), !isBefore(a, b));
    }
  }
});

void test('the API schema lists exactly the table states, in order', () => {
  assert.deepEqual(
    TaskStateSchema.anyOf.map((s: { const: string }) => s.const),
    [...TASK_STATES],
  );
});

void test('every state has exactly one owner, and the owners follow the life of a task', () => {
  const owners: TaskStateOwner[] = ['orchestrator', 'allocator', 'scheduler', 'agent', 'dispatcher'];
  const all = owners.flatMap(statesOwnedBy);
  assert.deepEqual([...all].sort(), [...TASK_STATES].sort(), 'each state under one owner');
  assert.deepEqual(NON_TERMINAL_STATES.map(ownerOf), ['orchestrator', 'allocator', 'scheduler', 'agent', 'agent', 'agent', 'agent']);
  assert.deepEqual(statesOwnedBy('agent'), ['accepted', 'preparing', 'starting', 'running', 'complete', 'shutdown', 'failed', 'rejected']);
  for (const s of TASK_STATES) assert.equal(ownerOf(s), TASK_STATE_TABLE[s].owner);
});

void test('terminal states come last', () => {
  const firstTerminal = TASK_STATES.findIndex(isTerminal);
  assert.ok(firstTerminal > 0);
  assert.ok(TASK_STATES.slice(firstTerminal).every(isTerminal), 'nothing live after a terminal state');
  assert.deepEqual([...TERMINAL_STATES], TASK_STATES.slice(firstTerminal));
  assert.deepEqual(NON_TERMINAL_STATES, TASK_STATES.slice(0, firstTerminal));
  assert.equal(NON_TERMINAL_STATES.at(-1), 'running');
});

void test('states only move forward: one function decides', () => {
  for (const from of TASK_STATES) {
    for (const to of TASK_STATES) {
      const expected = !isTerminal(from) && stateRank(to) >= stateRank(from);
      assert.equal(movesForward(from, to), expected, `${from} → ${to}`);
    }
  }
  assert.ok(movesForward('new', 'pending'));
  assert.ok(movesForward('running', 'running'), 'a refinement of the same state');
  assert.ok(!movesForward('running', 'starting'));
  assert.ok(!movesForward('failed', 'rejected'), 'never past a terminal state');
  assert.ok(!movesForward('complete', 'complete'));
});

void test('on a node: assigned … running', () => {
  assert.deepEqual(TASK_STATES.filter(isOnNode), ['assigned', 'accepted', 'preparing', 'starting', 'running']);
});
