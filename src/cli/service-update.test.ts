import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Service } from '../api/service.ts';
import { validateServiceSpec } from '../api/validate.ts';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { makeServiceSpec } from '../testing/fixtures.ts';
import { run } from './main.ts';
import { isUsageError } from './parse.ts';
import { healthcheckFromFlags, rolloutFromFlags, splitWords } from './service-flags.ts';
import { applyUpdateFlags, NO_UPDATE_FLAGS, type UpdateFlags } from './service-update.ts';

const base = makeServiceSpec({
  name: 'web',
  labels: { team: 'a', old: 'x' },
  taskTemplate: {
    container: { image: 'img:1', env: ['A=1', 'B=2'], labels: { c: '1' } },
    placement: { constraints: ['node.role==worker'] },
  },
  endpoint: { ports: [{ target: 80, published: 8080, protocol: 'tcp', mode: 'host' }] },
});
const update = (flags: Partial<UpdateFlags>) => applyUpdateFlags(base, { ...NO_UPDATE_FLAGS, ...flags });

describe('applyUpdateFlags', () => {
  it('changes only what the flags name, on a copy', () => {
    const before = structuredClone(base);
    const next = update({ image: 'img:2' });
    assert.equal(next.taskTemplate.container.image, 'img:2');
    assert.deepEqual({ ...next, taskTemplate: { ...next.taskTemplate, container: { ...next.taskTemplate.container, image: 'img:1' } } }, base);
    assert.deepEqual(base, before, 'the input is untouched');
  });

  it('edits env, labels, constraints and ports: removals first, then additions', () => {
    const next = update({
      envAdd: ['B=3', 'C=4'],
      envRm: ['A'],
      labelAdd: ['new=1'],
      labelRm: ['old'],
      containerLabelAdd: ['d=2'],
      constraintAdd: ['node.labels.zone==eu', 'node.role == worker'],
      constraintRm: [],
      publishAdd: ['9090:90'],
      publishRm: ['80'],
    });
    assert.deepEqual(next.taskTemplate.container.env, ['B=3', 'C=4']);
    assert.deepEqual(next.labels, { team: 'a', new: '1' });
    assert.deepEqual(next.taskTemplate.container.labels, { c: '1', d: '2' });
    assert.deepEqual(next.taskTemplate.placement.constraints, ['node.role==worker', 'node.labels.zone==eu']);
    assert.deepEqual(next.endpoint.ports, [{ published: 9090, target: 90 }]);
    assert.deepEqual(update({ constraintRm: ['node.role == worker'] }).taskTemplate.placement.constraints, []);
  });

  it('sets args and entrypoint from shell-quoted text; empty text clears them', () => {
    const next = update({ args: `sh -c 'echo "hi there"'`, entrypoint: '/bin/tini --' });
    assert.deepEqual(next.taskTemplate.container.args, ['sh', '-c', 'echo "hi there"']);
    assert.deepEqual(next.taskTemplate.container.command, ['/bin/tini', '--']);
    assert.equal(applyUpdateFlags(next, { ...NO_UPDATE_FLAGS, args: '' }).taskTemplate.container.args, undefined);
  });

  it('maps resources, restart policy, replicas, rollout configs and --force', () => {
    const next = update({
      replicas: '4',
      limitCpu: '0.5',
      reserveMemory: '64M',
      restartCondition: 'on-failure',
      restartDelay: '2s',
      stopGracePeriod: '1s',
      updateParallelism: '2',
      updateDelay: '2s',
      updateOrder: 'start-first',
      updateFailureAction: 'rollback',
      updateMonitor: '10s',
      updateMaxFailureRatio: '0.25',
      rollbackParallelism: '0',
      force: true,
    });
    assert.equal(next.replicas, 4);
    assert.equal(next.taskTemplate.resources.limits.nanoCpus, 500_000_000);
    assert.equal(next.taskTemplate.resources.reservations.memoryBytes, 64 * 1024 * 1024);
    assert.equal(next.taskTemplate.restartPolicy.condition, 'on-failure');
    assert.equal(next.taskTemplate.restartPolicy.delayMs, 2000);
    assert.equal(next.taskTemplate.container.stopGracePeriodMs, 1000);
    assert.deepEqual(next.updateConfig, { parallelism: 2, delayMs: 2000, order: 'start-first', failureAction: 'rollback', monitorMs: 10_000, maxFailureRatio: 0.25 });
    assert.equal(next.rollbackConfig.parallelism, 0);
    assert.equal(next.rollbackConfig.order, base.rollbackConfig.order, 'other rollback fields kept');
    assert.equal(next.taskTemplate.forceUpdate, base.taskTemplate.forceUpdate + 1);
    validateServiceSpec(next);
  });

  it('health flags: --health-cmd sets a CMD-SHELL probe, timing merges, --no-healthcheck is NONE', () => {
    const withCheck = update({ healthCmd: 'wget -q -O- localhost', healthInterval: '2s', healthRetries: '2' });
    assert.deepEqual(withCheck.taskTemplate.container.healthcheck, { test: ['CMD-SHELL', 'wget -q -O- localhost'], intervalMs: 2000, retries: 2 });
    const filled = validateServiceSpec(withCheck);
    const retimed = applyUpdateFlags(filled, { ...NO_UPDATE_FLAGS, healthTimeout: '1s' });
    assert.deepEqual(retimed.taskTemplate.container.healthcheck, { ...filled.taskTemplate.container.healthcheck, timeoutMs: 1000 });
    assert.deepEqual(update({ healthcheck: false }).taskTemplate.container.healthcheck, { test: ['NONE'] });
    assert.equal(applyUpdateFlags(filled, { ...NO_UPDATE_FLAGS, healthCmd: '' }).taskTemplate.container.healthcheck, undefined);
  });

  it('rejects health flags that make no sense, naming them', () => {
    assert.throws(() => update({ healthInterval: '5s' }), (e) => isUsageError(e) && /need --health-cmd/.test(e.message));
    assert.throws(() => healthcheckFromFlags({ healthcheck: false, healthCmd: 'true' }), (e) => isUsageError(e) && /--no-healthcheck conflicts/.test(e.message));
    assert.throws(() => update({ updateDelay: 'soon' }), (e) => isUsageError(e) && /--update-delay "soon"/.test(e.message));
  });

  it('rollout flags pass numbers the CLI cannot judge through as text', () => {
    assert.deepEqual(rolloutFromFlags({ updateMaxFailureRatio: 'lots', updateParallelism: '-1' }, 'update'), { maxFailureRatio: 'lots', parallelism: -1 });
    assert.equal(rolloutFromFlags({}, 'rollback'), undefined);
  });

  it('splitWords reads quotes and escapes, and rejects an open quote', () => {
    assert.deepEqual(splitWords(`a 'b c' "d \\"e\\"" f\\ g`, '--args'), ['a', 'b c', 'd "e"', 'f g']);
    assert.deepEqual(splitWords(`''`, '--args'), ['']);
    assert.throws(() => splitWords(`"open`, '--args'), (e) => isUsageError(e) && /unterminated/.test(e.message));
  });
});

describe('service update / create / scale through the CLI', () => {
  let h: ApiHarness;
  let stdout = '';
  let stderr = '';
  let changed: (() => void) | undefined;
  const cli = (...argv: string[]): Promise<number> =>
    run(argv, {
      stdout: { write: (s: string) => ((stdout += s), changed?.()) },
      stderr: { write: (s: string) => ((stderr += s), changed?.()) },
      env: { FLOTILLA_HOST: `unix://${h.socketPath}` },
      now: () => h.clock.now(),
    });
  /** Resolves once the CLI's output satisfies `pred` (or fails after 10 s, naming what was awaited). */
  const output = (pred: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; stdout=${stdout} stderr=${stderr}`)), 60_000);
      changed = () => {
        if (pred()) {
          clearTimeout(timer);
          changed = undefined;
          resolve();
        }
      };
      changed();
    });
  const runTask = (s: Service, slot: number): Promise<void> =>
    h.store.update((tx) => {
      tx.tasks.create({
        id: `task${slot}v${s.specVersion}`.padEnd(25, 'a'),
        serviceId: s.id,
        serviceName: s.spec.name,
        slot,
        specVersion: s.specVersion,
        spec: s.spec.taskTemplate,
        ports: [],
        desiredState: 'running',
        status: { state: 'running', timestamp: new Date(h.clock.now()).toISOString(), message: '' },
      });
    });

  beforeEach(async () => {
    h = await startApi({ listen: true });
    stdout = '';
    stderr = '';
  });
  afterEach(async () => {
    await h.close();
  });

  it('update -d PUTs the edited spec and bumps specVersion; bad values change nothing', async () => {
    assert.equal(await cli('service', 'create', '-d', '--name', 'web', '--update-parallelism', '1', '--health-cmd', 'true', 'img:1'), 0, stderr);
    const created = h.store.services.byName('web')!;
    assert.deepEqual(created.spec.taskTemplate.container.healthcheck?.test, ['CMD-SHELL', 'true']);
    assert.equal(await cli('service', 'update', '-d', '--image', 'img:2', '--env-add', 'V=2', '--update-delay', '2s', 'web'), 0, stderr);
    const s = h.store.services.byName('web')!;
    assert.equal(s.specVersion, created.specVersion + 1);
    assert.equal(s.spec.taskTemplate.container.image, 'img:2');
    assert.deepEqual(s.spec.taskTemplate.container.env, ['V=2']);
    assert.equal(s.spec.updateConfig.delayMs, 2000);
    assert.equal(stdout, `${created.id}\nweb\n`);

    assert.equal(await cli('service', 'update', '-d', '--force', 'web'), 0, stderr);
    assert.equal(h.store.services.byName('web')!.specVersion, s.specVersion + 1, '--force replaces tasks');

    stderr = '';
    const version = h.store.services.byName('web')!.version;
    assert.equal(await cli('service', 'update', '-d', '--replicas', '-3', 'web'), 1);
    assert.match(stderr, /^flotilla: invalid request body: spec\.replicas: Expected integer to be greater or equal to 0/);
    assert.equal(await cli('service', 'update', '-d', '--update-order', 'sideways', 'web'), 2);
    assert.equal(await cli('service', 'update', '-d', '--image', 'x', 'nope'), 1);
    assert.equal(h.store.services.byName('web')!.version, version, 'rejected updates change nothing');
  });

  it('waits, showing progress, until every slot runs the new spec', async () => {
    assert.equal(await cli('service', 'create', '-d', '--name', 'web', '--replicas', '2', 'img:1'), 0, stderr);
    const done = cli('service', 'update', '--timeout', '5m', '--env-add', 'V=2', 'web');
    await output(() => stdout.includes('web\n'), 'the update to be written');
    const s = h.store.services.byName('web')!;
    assert.equal(s.specVersion, 2);
    await runTask(s, 1);
    await output(() => stderr.includes('overall progress: 1 out of 2 tasks'), 'progress for one task');
    await runTask(s, 2);
    await output(() => stderr.includes('overall progress: 2 out of 2 tasks'), 'progress for both tasks');
    assert.doesNotMatch(stderr, /verify/, 'not converged while the update is in progress');
    // The orchestrator's part: the rollout is over.
    await h.store.update((tx) => {
      const cur = tx.services.byName('web')!;
      if (cur.updateStatus) tx.services.update({ ...cur, updateStatus: { ...cur.updateStatus, state: 'completed', message: 'update completed' } });
    });
    assert.equal(await done, 0, stderr);
    assert.match(stderr, /^web\n/);
    assert.match(stderr, /1\/2: running +\[=+>\]/);
    assert.match(stderr, /overall progress: 2 out of 2 tasks\n2\/2: running +\[=+>\]\ncompleted: update completed\nverify: Service converged\n$/);
  });

  it('scale waits too; --timeout ends a wait that cannot converge with exit 1', async () => {
    assert.equal(await cli('service', 'create', '-d', '--name', 'web', '--replicas', '0', 'img:1'), 0, stderr);
    assert.equal(await cli('service', 'scale', 'web=0'), 0, stderr);
    assert.match(stderr, /verify: Service converged/);
    stderr = '';
    assert.equal(await cli('service', 'scale', '--timeout', '300ms', 'web=1'), 1);
    assert.match(stderr, /flotilla: timed out after 300ms waiting for service web to converge/);
    stderr = '';
    assert.equal(await cli('service', 'create', '-q', '--timeout', '200ms', '--name', 'quiet', 'img:1'), 1);
    assert.equal(stderr, 'flotilla: timed out after 200ms waiting for service quiet to converge (--timeout)\n');
  });

  it('rollback -d returns to the previous spec; without one it fails in one line', async () => {
    assert.equal(await cli('service', 'create', '-d', '--name', 'web', 'img:1'), 0, stderr);
    assert.equal(await cli('service', 'rollback', '-d', 'web'), 1);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assert.match(stderr, /^flotilla: /);
    assert.equal(await cli('service', 'update', '-d', '--image', 'img:2', 'web'), 0, stderr);
    assert.equal(await cli('service', 'rollback', '-d', 'web'), 0, stderr);
    assert.equal(h.store.services.byName('web')!.spec.taskTemplate.container.image, 'img:1');
    assert.equal(await cli('service', 'update', '-d', '--rollback', 'web'), 0, stderr);
    assert.equal(h.store.services.byName('web')!.spec.taskTemplate.container.image, 'img:2');
  });

  it('an update that pauses ends the wait with exit 1 and the reason', async () => {
    assert.equal(await cli('service', 'create', '-d', '--name', 'web', 'img:1'), 0, stderr);
    const done = cli('service', 'update', '--timeout', '5m', '--image', 'img:2', 'web');
    await output(() => stdout.includes('web\n'), 'the update to be written');
    await h.store.update((tx) => {
      const s = tx.services.byName('web')!;
      tx.services.update({ ...s, updateStatus: { state: 'paused', startedAt: new Date(h.clock.now()).toISOString(), message: 'task 1 failed: exit code 1' } });
    });
    assert.equal(await done, 1);
    assert.match(stderr, /flotilla: update paused: task 1 failed: exit code 1\n$/);
  });
});
