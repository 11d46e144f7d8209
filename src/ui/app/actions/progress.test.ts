import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node } from '../../../api/node.ts';
import type { Service } from '../../../api/service.ts';
import type { Task } from '../../../api/task.ts';
import { describeNodeProgress, nodeProgress } from './node-progress.ts';
import { operationProgress, slotProgress } from './progress.ts';

function service(over: { replicas?: number; specVersion?: number; update?: Service['updateStatus'] } = {}): Service {
  return {
    id: 's1',
    version: 1,
    spec: { name: 'web', mode: 'replicated', replicas: over.replicas ?? 2, taskTemplate: { container: { image: 'img' } }, endpoint: { ports: [] } },
    specVersion: over.specVersion ?? 1,
    ...(over.update ? { updateStatus: over.update } : {}),
  } as unknown as Service;
}

let seq = 0;
function task(slot: number, state: Task['status']['state'], over: { v?: number; desired?: Task['desiredState']; message?: string; node?: string | null; service?: string; at?: string } = {}): Task {
  seq++;
  return {
    id: `t${seq}`,
    version: 1,
    serviceId: over.service ?? 's1',
    serviceName: 'web',
    slot,
    specVersion: over.v ?? 1,
    ...(over.node === null ? {} : { nodeId: over.node ?? 'n1' }),
    desiredState: over.desired ?? 'running',
    status: { state, timestamp: over.at ?? `2026-01-01T00:00:${String(seq % 60).padStart(2, '0')}.000Z`, message: over.message ?? '' },
  } as unknown as Task;
}

describe('slotProgress', () => {
  it('shows each slot’s wanted task, whether it is updated, and older tasks still stopping', () => {
    const s = service({ specVersion: 2 });
    const slots = slotProgress(s, [
      task(1, 'running', { v: 1, desired: 'shutdown' }),
      task(1, 'starting', { v: 2 }),
      task(2, 'running', { v: 1 }),
      task(2, 'shutdown', { v: 0, desired: 'shutdown' }),
    ]);
    assert.deepEqual(
      slots.map((x) => [x.key, x.state, x.current, x.stopping]),
      [
        ['1', 'starting', true, 1],
        ['2', 'running', false, 0],
      ],
    );
  });

  it('lists desired slots without tasks, and surplus slots still stopping', () => {
    const slots = slotProgress(service({ replicas: 2 }), [task(1, 'running'), task(3, 'running', { desired: 'shutdown' })]);
    assert.deepEqual(
      slots.map((x) => [x.key, x.state, x.surplus]),
      [
        ['1', 'running', false],
        ['2', 'none', false],
        ['3', 'running', true],
      ],
    );
  });
});

describe('operationProgress', () => {
  it('follows a scale until the running count matches and nothing is stopping', () => {
    const op = { kind: 'scale', replicas: 1 } as const;
    const s = service({ replicas: 1 });
    const going = operationProgress(op, s, [task(1, 'running'), task(2, 'running', { desired: 'shutdown' })]);
    assert.equal(going.outcome, 'running');
    assert.equal(going.text, 'Scaling to 1: 1 of 1 running, 1 stopping');
    const done = operationProgress(op, s, [task(1, 'running'), task(2, 'shutdown', { desired: 'shutdown' })]);
    assert.deepEqual(done, { text: 'Scaling to 1: 1 of 1 running', outcome: 'done' });
  });

  it('says why a scaled-up slot waits', () => {
    const p = operationProgress({ kind: 'scale', replicas: 2 }, service(), [task(1, 'running'), task(2, 'pending', { node: null, message: 'no suitable node' })]);
    assert.equal(p.text, 'Scaling to 2: 1 of 2 running · no suitable node');
  });

  it('follows a rolling update slot by slot, and a paused one as failed', () => {
    const op = { kind: 'update', what: 'image b', fromVersion: 1 } as const;
    assert.equal(operationProgress(op, service(), [task(1, 'running')]).text, 'Rolling update (image b): waiting for the new spec');
    const half = operationProgress(op, service({ specVersion: 2, update: { state: 'updating', startedAt: '', message: 'update in progress' } }), [task(1, 'running', { v: 2 }), task(2, 'running')]);
    assert.deepEqual(half, { text: 'Rolling update (image b): 1 of 2 slots updated · updating: update in progress', outcome: 'running' });
    const done = operationProgress(op, service({ specVersion: 2, update: { state: 'completed', startedAt: '', message: 'update completed' } }), [task(1, 'running', { v: 2 }), task(2, 'running', { v: 2 })]);
    assert.equal(done.outcome, 'done');
    const paused = operationProgress(op, service({ specVersion: 2, update: { state: 'paused', startedAt: '', message: 'task failed' } }), [task(1, 'failed', { v: 2 }), task(2, 'running')]);
    assert.equal(paused.outcome, 'failed');
  });

  it('follows a removal until every task stopped', () => {
    const op = { kind: 'remove', serviceId: 's1' } as const;
    assert.equal(operationProgress(op, undefined, [task(1, 'running', { desired: 'remove' })]).outcome, 'running');
    assert.deepEqual(operationProgress(op, undefined, [task(1, 'shutdown', { desired: 'remove' })]), { text: 'Removed: every task stopped', outcome: 'done' });
  });
});

describe('nodeProgress', () => {
  const node = { id: 'n1', spec: { availability: 'drain' } } as unknown as Node;

  it('counts tasks leaving a drained node and replacements waiting, with the reason', () => {
    const tasks = [
      task(1, 'running', { desired: 'shutdown' }),
      task(2, 'shutdown', { desired: 'shutdown' }),
      task(1, 'pending', { node: null, message: 'no suitable node (1 node draining)' }),
      task(2, 'pending', { node: null, message: 'no suitable node (1 node draining)' }),
      task(1, 'running', { service: 'other', node: 'n2' }),
    ];
    const p = nodeProgress(node, tasks);
    assert.deepEqual({ ...p }, { availability: 'drain', running: 0, starting: 0, leaving: 1, waiting: 2, reason: 'no suitable node (1 node draining)', elsewhere: 0 });
    assert.deepEqual(describeNodeProgress(p), { text: 'Draining: 1 task(s) still on this node (1 stopping) · 2 replacement(s) waiting: no suitable node (1 node draining)', settled: false });
  });

  it('is settled when no task is left on the node; replacements elsewhere are counted', () => {
    const p = nodeProgress(node, [task(1, 'shutdown', { desired: 'shutdown' }), task(1, 'running', { node: 'n2' })]);
    assert.deepEqual(describeNodeProgress(p), { text: 'Drained: no tasks left on this node · 1 running on other nodes', settled: true });
  });

  it('tells tasks placed on an active node but not started yet from the running ones', () => {
    const active = { id: 'n1', spec: { availability: 'active' } } as unknown as Node;
    const p = nodeProgress(active, [task(1, 'running'), task(2, 'starting')]);
    assert.deepEqual(describeNodeProgress(p), { text: 'Active: 1 task(s) running here, 1 starting', settled: false });
  });
});
