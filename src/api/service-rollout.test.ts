import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeService, makeServiceSpec } from '../testing/fixtures.ts';
import { changesTasks, withUpdatedSpec } from './service-rollout.ts';

describe('changesTasks', () => {
  it('is true for template and port changes, false for replicas, labels and name', () => {
    const a = makeServiceSpec();
    assert.equal(changesTasks(a, { ...a, replicas: 7, labels: { x: 'y' }, name: 'other' }), false);
    assert.equal(changesTasks(a, makeServiceSpec({ taskTemplate: { container: { env: ['A=1'] } } })), true);
    assert.equal(changesTasks(a, { ...a, endpoint: { ...a.endpoint, ports: [{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }] } }), true);
  });

  it('is true for a change of mode, and for a job also for its counts', () => {
    const a = makeServiceSpec();
    assert.equal(changesTasks(a, { ...a, mode: 'global' }), true);
    const job = makeServiceSpec({ mode: 'replicated-job', replicas: 2 });
    assert.equal(changesTasks(job, { ...job, replicas: 3 }), true);
    assert.equal(changesTasks(job, { ...job, job: { maxConcurrent: 1 } }), true);
    assert.equal(changesTasks(job, { ...job, labels: { a: 'b' } }), false);
  });
});

describe('withUpdatedSpec', () => {
  it('starts a rollout (new specVersion, previousSpec, updating) only when tasks change', () => {
    const s = makeService({ specVersion: 3 });
    const scaled = withUpdatedSpec(s, { ...s.spec, replicas: s.spec.replicas + 2 }, 0);
    assert.equal(scaled.specVersion, 3);
    assert.equal(scaled.previousSpec, undefined);
    assert.equal(scaled.spec.replicas, s.spec.replicas + 2);
    const changed = withUpdatedSpec(s, { ...s.spec, taskTemplate: { ...s.spec.taskTemplate, container: { ...s.spec.taskTemplate.container, env: ['B=2'] } } }, 1_000);
    assert.equal(changed.specVersion, 4);
    assert.equal(changed.previousSpecVersion, 3);
    assert.deepEqual(changed.previousSpec, s.spec);
    assert.equal(changed.updateStatus?.state, 'updating');
  });
});
