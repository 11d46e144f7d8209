import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Service, UpdateStatus } from '../api/service.ts';
import type { Task, TaskState } from '../api/task.ts';
import { makeNode, makeService, makeTask } from '../testing/fixtures.ts';
import { bar, formatView, progressView } from './progress.ts';

function svc(replicas: number, specVersion = 2, updateStatus?: UpdateStatus): Service {
  return makeService({ id: 'svc', spec: { name: 'web', replicas }, specVersion, ...(updateStatus ? { updateStatus } : {}) });
}

let seq = 0;
function task(slot: number, state: TaskState, specVersion = 2, extra: Partial<Task> = {}): Task {
  seq++;
  return makeTask({
    serviceId: 'svc',
    serviceName: 'web',
    slot,
    specVersion,
    createdAt: `2026-01-01T00:00:${String(seq).padStart(2, '0')}.000Z`,
    desiredState: 'running',
    status: { state, message: '' },
    ...extra,
  } as never);
}

const updating: UpdateStatus = { state: 'updating', startedAt: '2026-01-01T00:00:00.000Z', message: 'update in progress' };

describe('progressView', () => {
  it('a job converges when its run completed, and fails once its attempts are used up', () => {
    const job = makeService({ id: 'svc', spec: { name: 'migrate', mode: 'replicated-job', replicas: 1 }, specVersion: 2 });
    const exit = (code: number) => ({ status: { state: code === 0 ? 'complete' : 'failed', message: '', exitCode: code, ...(code ? { err: `exit code ${code}` } : {}) } }) as never;
    const running = progressView(job, [task(1, 'running')], [], 'create', undefined);
    assert.equal(running.converged, false);
    assert.equal(running.failure, undefined);
    const done = progressView(job, [task(1, 'complete', 2, exit(0))], [], 'create', undefined);
    assert.equal(done.converged, true);
    const failing = [1, 2, 3].map(() => task(1, 'failed', 2, exit(1)));
    const failed = progressView(job, failing, [], 'create', undefined);
    assert.equal(failed.converged, false);
    assert.match(failed.failure ?? '', /job migrate failed 3 time\(s\): exit code 1/);
  });

  it('converges when every slot runs the current spec', () => {
    const v = progressView(svc(2), [task(1, 'running'), task(2, 'running')], [], 'create', undefined);
    assert.equal(v.up, 2);
    assert.equal(v.converged, true);
    assert.equal(v.failure, undefined);
  });

  it('is not converged while a slot runs an old spec, is on its way, or is missing', () => {
    const v = progressView(svc(3), [task(1, 'running', 1), task(2, 'preparing')], [], 'update', undefined);
    assert.equal(v.converged, false);
    assert.deepEqual(v.lines.map((l) => l.state), ['to update', 'preparing', 'waiting']);
    assert.equal(v.up, 0);
  });

  it('shows the newest task of a slot, the one wanted running first', () => {
    const old = task(1, 'running', 1, { desiredState: 'shutdown' });
    const v = progressView(svc(1), [old, task(1, 'starting')], [], 'update', undefined);
    assert.equal(v.lines[0]?.state, 'starting');
  });

  it('waits for a task with a health check to be healthy', () => {
    const hc = { test: ['CMD-SHELL', 'true'], intervalMs: 1000, timeoutMs: 1000, retries: 1, startPeriodMs: 0 };
    const t = task(1, 'running', 2);
    t.spec.container.healthcheck = hc;
    assert.equal(progressView(svc(1), [t], [], 'create', undefined).converged, false);
    t.status.health = 'starting';
    assert.equal(progressView(svc(1), [t], [], 'create', undefined).lines[0]?.state, 'starting');
    t.status.health = 'healthy';
    assert.equal(progressView(svc(1), [t], [], 'create', undefined).converged, true);
  });

  it('is not converged while the rollout is in progress, or a scaled-away task still runs', () => {
    assert.equal(progressView(svc(1, 2, updating), [task(1, 'running')], [], 'update', undefined).converged, false);
    assert.equal(progressView(svc(1), [task(1, 'running'), task(2, 'running')], [], 'scale', undefined).converged, false);
    const gone = task(2, 'running', 2, { desiredState: 'remove' });
    assert.equal(progressView(svc(1), [task(1, 'running'), gone], [], 'scale', undefined).converged, true);
  });

  it('fails an update that pauses or rolls back, but not on an old status', () => {
    const paused: UpdateStatus = { ...updating, state: 'paused', message: 'task failed: exit 1' };
    assert.equal(progressView(svc(1, 2, paused), [], [], 'update', updating).failure, 'update paused: task failed: exit 1');
    assert.equal(progressView(svc(1, 2, paused), [], [], 'update', paused).failure, undefined, 'unchanged since the write');
    const rolled: UpdateStatus = { ...updating, state: 'rollback_completed', message: 'rolled back: task failed' };
    assert.equal(progressView(svc(1, 1, rolled), [], [], 'update', updating).failure, 'update rolled back: rolled back: task failed');
  });

  it('a rollback that completes is success for `service rollback`', () => {
    const started: UpdateStatus = { ...updating, state: 'rollback_started', message: 'manually requested rollback' };
    const done: UpdateStatus = { ...started, state: 'rollback_completed', message: 'rollback completed' };
    const v = progressView(svc(1, 1, done), [task(1, 'running', 1)], [], 'rollback', started);
    assert.equal(v.failure, undefined);
    assert.equal(v.converged, true);
    assert.equal(v.status, 'rollback completed: rollback completed');
    const paused: UpdateStatus = { ...started, state: 'rollback_paused', message: 'task failed' };
    assert.equal(progressView(svc(1, 1, paused), [], [], 'rollback', started).failure, 'rollback paused: task failed');
  });

  it('global: one line per eligible node', () => {
    const a = makeNode({ id: 'na', description: { hostname: 'alpha' } });
    const b = makeNode({ id: 'nb', description: { hostname: 'beta' }, spec: { availability: 'drain' } });
    const g = makeService({ id: 'svc', spec: { name: 'agent', mode: 'global' }, specVersion: 2 });
    const t = makeTask({ serviceId: 'svc', serviceName: 'agent', nodeId: 'na', specVersion: 2, desiredState: 'running', status: { state: 'running' } });
    const v = progressView(g, [t], [a, b], 'create', undefined);
    assert.deepEqual(v.lines.map((l) => l.label), ['alpha']);
    assert.equal(v.converged, true);
  });

  it('formats docker-like lines', () => {
    assert.equal(bar(1), `[${'='.repeat(50)}>]`);
    assert.equal(bar(0), `[${' '.repeat(51)}]`);
    const failed = task(2, 'failed', 2, { status: { state: 'failed', message: 'exited', err: 'exit code 1', timestamp: '2026-01-01T00:00:00.000Z' } } as never);
    const lines = formatView(progressView(svc(2), [task(1, 'running'), failed], [], 'create', undefined));
    assert.deepEqual(
      lines.map((l) => l.text),
      ['overall progress: 1 out of 2 tasks', `1/2: running   [${'='.repeat(50)}>]`, `2/2: failed    [${' '.repeat(51)}] exit code 1`],
    );
  });
});
