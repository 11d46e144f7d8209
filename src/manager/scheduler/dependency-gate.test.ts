import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service } from '../../api/service.ts';
import type { Task } from '../../api/task.ts';
import { makeNode, makeService, makeTask, type DeepPartial } from '../../testing/fixtures.ts';
import { dependencyGate, type DependencySnapshot } from './dependency-gate.ts';
import { plan } from './plan.ts';

function snapshot(services: Service[], tasks: Task[]): DependencySnapshot {
  return {
    service: (id) => services.find((s) => s.id === id),
    serviceByName: (name) => services.find((s) => s.spec.name === name),
    tasksOf: (id) => tasks.filter((t) => t.serviceId === id),
  };
}

function svc(id: string, spec: DeepPartial<Service['spec']>, extra: DeepPartial<Service> = {}): Service {
  return makeService({ id, spec: { name: id, ...spec }, ...extra });
}

function task(serviceId: string, slot: number, status: DeepPartial<Task['status']>, extra: DeepPartial<Task> = {}): Task {
  return makeTask({ id: `${serviceId}-${slot}-${status.state}`, serviceId, serviceName: serviceId, slot, nodeId: 'n1', status, ...extra });
}

const web = (condition: string, on = 'db'): Service =>
  svc('web', { dependsOn: [{ service: on, condition: condition as 'service_started' }] });

void test('no dependencies: never gated', () => {
  assert.equal(dependencyGate(snapshot([], []), svc('web', {})), undefined);
});

void test('a dependency that does not exist is a reason', () => {
  assert.equal(dependencyGate(snapshot([], []), web('service_started', 'STACK_db')), 'waiting for STACK_db: no such service');
});

void test('service_started: every wanted slot has a running task of the current spec', () => {
  const db = svc('db', { replicas: 2 }, { specVersion: 2 });
  const gate = (tasks: Task[]): string | undefined => dependencyGate(snapshot([db], tasks), web('service_started'));
  assert.equal(gate([]), 'waiting for db: service_started (0 of 2 running)');
  assert.equal(
    gate([task('db', 1, { state: 'running' }, { specVersion: 2 }), task('db', 2, { state: 'starting' }, { specVersion: 2 })]),
    'waiting for db: service_started (1 of 2 running)',
  );
  assert.equal(
    gate([task('db', 1, { state: 'running' }, { specVersion: 2 }), task('db', 2, { state: 'running' }, { specVersion: 1 })]),
    'waiting for db: service_started (1 of 2 running)',
    'a task of the old spec does not count',
  );
  assert.equal(
    gate([task('db', 1, { state: 'running' }, { specVersion: 2 }), task('db', 2, { state: 'running' }, { specVersion: 2 })]),
    undefined,
  );
});

void test('service_healthy: running tasks must be healthy when they have a health check', () => {
  const probed = svc('db', { replicas: 2, taskTemplate: { container: { healthcheck: { test: ['CMD', 'true'] } } } });
  const plain = svc('db', { replicas: 2 });
  const gate = (db: Service, tasks: Task[]): string | undefined => dependencyGate(snapshot([db], tasks), web('service_healthy'));
  const withProbe = { spec: probed.spec.taskTemplate };
  assert.equal(
    gate(probed, [task('db', 1, { state: 'running', health: 'healthy' }, withProbe), task('db', 2, { state: 'running' }, withProbe)]),
    'waiting for db: service_healthy (1 of 2 healthy)',
    'a probe without a reported health is not healthy yet',
  );
  assert.equal(
    gate(probed, [task('db', 1, { state: 'running', health: 'healthy' }, withProbe), task('db', 2, { state: 'running', health: 'starting' }, withProbe)]),
    'waiting for db: service_healthy (1 of 2 healthy)',
  );
  assert.equal(
    gate(probed, [task('db', 1, { state: 'running', health: 'healthy' }, withProbe), task('db', 2, { state: 'running', health: 'healthy' }, withProbe)]),
    undefined,
  );
  assert.equal(gate(plain, [task('db', 1, { state: 'running' }), task('db', 2, { state: 'running' })]), undefined, 'no health check: running suffices');
  assert.equal(
    gate(plain, [task('db', 1, { state: 'running', health: 'unhealthy' }), task('db', 2, { state: 'running' })]),
    'waiting for db: service_healthy (1 of 2 healthy)',
    'health reported by the image counts',
  );
});

void test('service_completed_successfully on a replicated job: the current run completed', () => {
  const migrate = svc('migrate', { mode: 'replicated-job', job: { maxConcurrent: 1, totalCompletions: 2 } });
  const gate = (tasks: Task[]): string | undefined =>
    dependencyGate(snapshot([migrate], tasks), web('service_completed_successfully', 'migrate'));
  assert.equal(gate([]), 'waiting for migrate: service_completed_successfully (0 of 2 completed)');
  assert.equal(
    gate([
      task('migrate', 1, { state: 'failed', exitCode: 1 }, { desiredState: 'shutdown' }),
      task('migrate', 1, { state: 'complete', exitCode: 0 }),
      task('migrate', 2, { state: 'running' }),
    ]),
    'waiting for migrate: service_completed_successfully (1 of 2 completed, 1 failed)',
  );
  assert.equal(gate([task('migrate', 1, { state: 'complete', exitCode: 0 }), task('migrate', 2, { state: 'complete', exitCode: 0 })]), undefined);
  assert.equal(
    gate([task('migrate', 1, { state: 'complete', exitCode: 0 }), task('migrate', 2, { state: 'complete', exitCode: 2 })]),
    'waiting for migrate: service_completed_successfully (1 of 2 completed, 1 failed)',
    'a non-zero exit is no completion',
  );
});

void test('service_completed_successfully on a global job and on a plain service', () => {
  const sweep = svc('sweep', { mode: 'global-job' });
  const gateJob = (tasks: Task[]): string | undefined =>
    dependencyGate(snapshot([sweep], tasks), web('service_completed_successfully', 'sweep'));
  assert.equal(gateJob([]), 'waiting for sweep: service_completed_successfully (0 of 0 completed)', 'no task yet is not done');
  const onNode = (n: string, status: DeepPartial<Task['status']>): Task => {
    const { slot: _slot, ...t } = makeTask({ id: `sweep-${n}`, serviceId: 'sweep', serviceName: 'sweep', nodeId: n, status });
    return t; // global tasks have a node, no slot
  };
  assert.equal(gateJob([onNode('n1', { state: 'complete', exitCode: 0 }), onNode('n2', { state: 'running' })]), 'waiting for sweep: service_completed_successfully (1 of 2 completed)');
  assert.equal(gateJob([onNode('n1', { state: 'complete', exitCode: 0 }), onNode('n2', { state: 'complete', exitCode: 0 })]), undefined);

  const seed = svc('seed', { replicas: 1 });
  const gate = (tasks: Task[]): string | undefined =>
    dependencyGate(snapshot([seed], tasks), web('service_completed_successfully', 'seed'));
  assert.equal(gate([task('seed', 1, { state: 'running' })]), 'waiting for seed: service_completed_successfully (0 of 1 completed)');
  assert.equal(gate([task('seed', 1, { state: 'complete', exitCode: 0 })]), undefined);
});

void test('the first unmet dependency is named, in the spec order', () => {
  const db = svc('db', {});
  const cache = svc('cache', {});
  const app = svc('app', {
    dependsOn: [
      { service: 'db', condition: 'service_started' },
      { service: 'cache', condition: 'service_started' },
    ],
  });
  assert.equal(dependencyGate(snapshot([db, cache, app], []), app), 'waiting for db: service_started (0 of 1 running)');
  assert.equal(
    dependencyGate(snapshot([db, cache, app], [task('db', 1, { state: 'running' })]), app),
    'waiting for cache: service_started (0 of 1 running)',
  );
});

void test('plan keeps a gated task pending with the reason, and places it once the gate opens', () => {
  const db = svc('db', {});
  const w = web('service_started');
  const pending = makeTask({ id: 'web-1', serviceId: 'web', serviceName: 'web', status: { state: 'pending' } });
  const nodes = [makeNode({ id: 'n1' })];
  const closed = plan({ nodes, tasks: [], dependencies: snapshot([db, w], []) }, [pending]);
  assert.deepEqual(closed, { assignments: [], unschedulable: [{ taskId: 'web-1', reason: 'waiting for db: service_started (0 of 1 running)', cause: 'dependency' }] });
  const dbTask = task('db', 1, { state: 'running' });
  const open = plan({ nodes, tasks: [dbTask], dependencies: snapshot([db, w], [dbTask]) }, [pending]);
  assert.deepEqual(open.assignments, [{ taskId: 'web-1', nodeId: 'n1' }]);
  // Without a dependency snapshot (older callers) nothing is gated.
  assert.equal(plan({ nodes, tasks: [] }, [pending]).assignments.length, 1);
});
