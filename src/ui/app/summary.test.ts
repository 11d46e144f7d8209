import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { mergeObject } from './cluster-state.ts';
import { orderTasks, summarizeService, tasksByState } from './summary.ts';

function service(over: { replicas?: number; update?: Service['updateStatus'] } = {}): Service {
  return {
    id: 's1',
    version: 1,
    spec: { name: 'web', mode: 'replicated', replicas: over.replicas ?? 2, taskTemplate: { container: { image: 'img' } }, endpoint: { ports: [] } },
    specVersion: 1,
    ...(over.update ? { updateStatus: over.update } : {}),
  } as unknown as Service;
}

function task(id: string, state: Task['status']['state'], over: { slot?: number; desired?: Task['desiredState']; message?: string; err?: string; at?: string } = {}): Task {
  return {
    id,
    version: 1,
    serviceId: 's1',
    serviceName: 'web',
    slot: over.slot ?? 1,
    desiredState: over.desired ?? 'running',
    status: { state, timestamp: over.at ?? '2026-01-01T00:00:00.000Z', message: over.message ?? '', ...(over.err ? { err: over.err } : {}) },
  } as unknown as Task;
}

describe('dashboard summaries', () => {
  it('calls a service converged, updating or failing, with the reason it waits', () => {
    assert.equal(summarizeService(service(), [task('a', 'running'), task('b', 'running', { slot: 2 })]).health, 'converged');
    const starting = summarizeService(service(), [task('a', 'running'), task('b', 'assigned', { slot: 2 })]);
    assert.deepEqual([starting.health, starting.running, starting.desired], ['updating', 1, 2]);
    const stuck = summarizeService(service(), [task('a', 'running'), task('b', 'pending', { slot: 2, message: 'no suitable node (1 node fails constraint)' })]);
    assert.deepEqual([stuck.health, stuck.why], ['failing', 'no suitable node (1 node fails constraint)']);
    const paused = summarizeService(service({ update: { state: 'paused', startedAt: '2026-01-01T00:00:00.000Z', message: 'update paused: task failed' } }), [task('a', 'running'), task('b', 'running', { slot: 2 })]);
    assert.deepEqual([paused.health, paused.why], ['failing', 'update paused: task failed']);
  });

  it('counts tasks by state and orders live tasks by slot before ended ones, newest first', () => {
    const tasks = [task('old', 'failed', { desired: 'shutdown', at: '2026-01-01T00:00:01.000Z' }), task('b', 'running', { slot: 2 }), task('newer', 'complete', { desired: 'shutdown', at: '2026-01-01T00:00:02.000Z' }), task('a', 'running')];
    assert.equal(tasksByState(tasks).get('running'), 2);
    assert.equal(tasksByState(tasks).get('pending'), 0);
    assert.deepEqual(orderTasks(tasks).map((t) => t.id), ['a', 'b', 'newer', 'old']);
  });

  it('keeps the newer of a listed object and an event (by version)', () => {
    const table = new Map<string, { id: string; version: number; v: string }>();
    mergeObject(table, { id: 'x', version: 5, v: 'from the event' });
    mergeObject(table, { id: 'x', version: 3, v: 'from an older list' });
    assert.equal(table.get('x')?.v, 'from the event');
    mergeObject(table, { id: 'x', version: 6, v: 'newer' });
    assert.equal(table.get('x')?.v, 'newer');
  });
});
