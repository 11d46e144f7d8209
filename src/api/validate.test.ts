import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isApiError } from './errors.ts';
import { pointerToPath, validateServiceSpec } from './validate.ts';

const minimal = { name: 'web', taskTemplate: { container: { image: 'flotilla/busybox:test' } } };

function rejects(input: unknown, path: string, says: RegExp): void {
  assert.throws(
    () => validateServiceSpec(input),
    (e) => isApiError(e) && e.code === 'invalid_argument' && e.details.some((d) => d.path === path && says.test(d.message)),
  );
}

describe('validateServiceSpec', () => {
  it('fills every default and leaves the input untouched', () => {
    const input = structuredClone(minimal);
    const spec = validateServiceSpec(input);
    assert.deepEqual(input, minimal);
    assert.equal(spec.mode, 'replicated');
    assert.equal(spec.replicas, 1);
    assert.equal(spec.taskTemplate.driver, 'docker');
    assert.deepEqual(spec.taskTemplate.restartPolicy, { condition: 'any', delayMs: 5000, maxAttempts: 0, windowMs: 0 });
    assert.equal(spec.taskTemplate.container.stopGracePeriodMs, 10_000);
    assert.deepEqual(spec.updateConfig, {
      parallelism: 1,
      delayMs: 0,
      order: 'stop-first',
      failureAction: 'pause',
      monitorMs: 5000,
      maxFailureRatio: 0,
    });
  });

  it('names the field and what was found', () => {
    rejects({ ...minimal, replicas: -1 }, 'replicas', /greater or equal to 0.*-1/);
    rejects({ ...minimal, name: 'no spaces' }, 'name', /expected a name of letters.*got "no spaces"/);
    rejects({ ...minimal, extra: 1 }, 'extra', /Unexpected property/);
  });

  it('checks what the schema cannot', () => {
    const t = (template: object) => ({ name: 'web', taskTemplate: template });
    rejects(t({ container: {} }), 'taskTemplate.container.image', /needs an image/);
    rejects(t({ driver: 'exec', container: {} }), 'taskTemplate.container.command', /needs a command/);
    rejects(t({ container: { image: 'x' }, placement: { constraints: ['zone=east'] } }), 'taskTemplate.placement.constraints[0]', /malformed/);
    rejects(t({ container: { image: 'x', env: ['NOEQUALS'] } }), 'taskTemplate.container.env[0]', /KEY=VALUE/);
    rejects(
      t({ container: { image: 'x' }, resources: { limits: { nanoCpus: 1e9 }, reservations: { nanoCpus: 2e9 } } }),
      'taskTemplate.resources.reservations.nanoCpus',
      /exceeds/,
    );
    rejects(
      { ...minimal, endpoint: { ports: [{ target: 80, published: 8080 }, { target: 81, published: 8080 }] } },
      'endpoint.ports[1]',
      /published twice/,
    );
    rejects(
      t({ container: { image: 'x', healthcheck: { test: ['CMD', 'true'], tcp: { port: 80 } } } }),
      'taskTemplate.container.healthcheck',
      /exactly one/,
    );
    rejects(t({ container: { image: 'x', healthcheck: { test: ['RUN', 'true'] } } }), 'taskTemplate.container.healthcheck.test[0]', /CMD/);
    rejects({ ...minimal, rollbackConfig: { failureAction: 'rollback' } }, 'rollbackConfig.failureAction', /cannot roll back/);
    rejects(t({ container: { image: 'x', mounts: [{ type: 'bind', source: 'rel', target: '/x' }] } }), 'taskTemplate.container.mounts[0].source', /absolute/);
    rejects(t({ container: { image: 'x', mounts: [{ type: 'volume', source: 'v', target: 'rel' }] } }), 'taskTemplate.container.mounts[0].target', /absolute/);
    rejects(t({ container: { image: 'x', extraHosts: ['nocolon'] } }), 'taskTemplate.container.extraHosts[0]', /HOST:IP/);
    rejects({ ...minimal, job: { totalCompletions: 3 } }, 'job', /replicated-job/);
    rejects({ ...minimal, dependsOn: [{ service: 'web' }] }, 'dependsOn[0].service', /itself/);
  });

  it('answers the same interpreted (the first checks of a schema) and compiled (later ones)', () => {
    const bad = { name: 'web', replicas: 'three', taskTemplate: { container: { image: 7 } } };
    const outcome = (input: unknown): unknown => {
      try {
        return validateServiceSpec(input);
      } catch (e) {
        assert.ok(isApiError(e));
        return { message: e.message, details: e.details };
      }
    };
    const first = [outcome(bad), outcome(minimal)];
    for (let i = 0; i < 20; i++) assert.deepEqual([outcome(bad), outcome(minimal)], first, `check ${i}`);
  });
  it('turns JSON pointers into field paths', () => {
    assert.equal(pointerToPath('/taskTemplate/placement/constraints/0'), 'taskTemplate.placement.constraints[0]');
    assert.equal(pointerToPath(''), '');
  });
});
