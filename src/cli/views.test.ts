import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeNode, makeService, makeTask } from '../testing/fixtures.ts';
import { nodeTable, serviceTable, taskTable } from './views.ts';

const NOW = Date.parse('2026-01-01T00:01:00.000Z');

void test('service ps shows why a pending task waits in the ERROR column, not the allocator note', () => {
  const waiting = makeTask({ id: 'aaaaaaaaaaaa1', status: { state: 'pending', message: 'waiting for db: service_healthy (1 of 2 healthy)' } });
  const allocated = makeTask({ id: 'aaaaaaaaaaaa2', slot: 2, status: { state: 'pending', message: 'allocated' } });
  const out = taskTable([waiting, allocated], [], { noTrunc: true, now: NOW });
  assert.match(out, /waiting for db: service_healthy \(1 of 2 healthy\)/);
  assert.doesNotMatch(out, /allocated/);
});

void test('service ls shows a job as active/concurrent (completed/wanted)', () => {
  const svc = makeService({ spec: { name: 'migrate', mode: 'replicated-job', replicas: 2, job: { totalCompletions: 3 } } });
  const tasks = [
    makeTask({ id: 't1', slot: 1, status: { state: 'complete', exitCode: 0 } }),
    makeTask({ id: 't2', slot: 2, status: { state: 'running' } }),
  ];
  assert.match(serviceTable([svc], tasks), /replicated-job\s+1\/2 \(1\/3 completed\)/);
});

void test('service ps shows a finished job task as desired Complete', () => {
  const done = makeTask({ id: 'aaaaaaaaaaaa3', status: { state: 'complete', exitCode: 0, message: 'finished' } });
  const out = taskTable([done], [], { noTrunc: true, now: NOW });
  assert.match(out, /Complete\s+Complete/);
  assert.doesNotMatch(out, /Running/);
});

test('node ls: MANAGER STATUS is Leader, Reachable or Unreachable from the live managers, empty for workers', () => {
  const node = (id: string, hostname: string, role: 'manager' | 'worker') => makeNode({ id, spec: { role }, description: { hostname } });
  const nodes = [node('n1', 'a', 'manager'), node('n2', 'b', 'manager'), node('n3', 'c', 'manager'), node('n4', 'd', 'worker')];
  const out = nodeTable(nodes, new Map(), [
    { id: 'm1', nodeId: 'n1', addr: '10.0.0.1:4280', leader: false },
    { id: 'm2', nodeId: 'n2', addr: '10.0.0.2:4280', leader: true },
  ]);
  const status = (host: string): string | undefined => {
    const lines = out.trimEnd().split('\n');
    const at = lines[0]!.indexOf('MANAGER STATUS');
    const line = lines.find((l) => l.split(/\s+/)[1] === host);
    return line?.slice(at, lines[0]!.indexOf('ADDRESS')).trim();
  };
  assert.deepEqual(['a', 'b', 'c', 'd'].map(status), ['Reachable', 'Leader', 'Unreachable', '']);
});
