import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Service, ServiceSpec, UpdateConfig } from '../../api/service.ts';
import { rolledBack, withNewSpec } from '../../api/service-rollout.ts';
import type { Task } from '../../api/task.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeService, type DeepPartial } from '../../testing/fixtures.ts';
import { RolloutSim, type Behaviour } from '../../testing/rollout-sim.ts';
import { timeOf } from './task-life.ts';

/*
 * The rolling updater, played out in time: the pure planner with a scripted agent on a fake
 * clock (rollout-sim.ts). Version 1 of the spec runs `V=1`, the update brings `V=2`; a test
 * makes `V=2` crash or fail its health check through the agent's script.
 */

const env = (t: Task): string => t.spec.container.env.join(',');
const isNew = (t: Task): boolean => env(t).includes('V=2');
const NO_MONITOR = { monitorMs: 0 };

/** A running 4-replica service at V=1 (rollout settings from `config`), updated to V=2. */
function updated(
  clock: FakeClock,
  config: Partial<UpdateConfig> = {},
  behave: (t: Task) => Behaviour = () => ({}),
  spec: DeepPartial<ServiceSpec> = {},
): RolloutSim {
  const base = makeService({
    spec: {
      replicas: 4,
      ...spec,
      taskTemplate: { container: { env: ['V=1'] }, restartPolicy: { delayMs: 1_000 } },
      updateConfig: config,
      rollbackConfig: { parallelism: 0, monitorMs: 1_000 },
    },
  });
  const sim = new RolloutSim(base, clock, behave);
  sim.seed(4);
  const next = structuredClone(base.spec);
  next.taskTemplate.container.env = ['V=2'];
  sim.setService(withNewSpec(base, next, true, clock.now()));
  return sim;
}

const state = (sim: RolloutSim): string | undefined => sim.service.updateStatus?.state;
const settled = (s: RolloutSim): boolean => ['completed', 'paused', 'rollback_completed', 'rollback_paused'].includes(state(s) ?? '');

/** Creation times of the tasks of specVersion 2 (the updated ones), in order. */
const createdTimes = (sim: RolloutSim): number[] => sim.tasksOf(2).map((t) => timeOf(t.createdAt));

void test('stop-first, parallelism 1, delay 2 s: one at a time, never fewer than 3 of 4 up', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, delayMs: 2_000, order: 'stop-first', monitorMs: 1_000 });
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.ok(sim.service.updateStatus?.completedAt);
  assert.equal(sim.minUp, 3);
  assert.equal(sim.maxRunning, 4, 'stop-first never runs more than replicas');
  const live = sim.live();
  assert.equal(live.length, 4);
  assert.ok(live.every((t) => t.specVersion === 2 && isNew(t)));
  // Each replacement starts once the previous one ran for the monitor period, plus the delay.
  const times = createdTimes(sim);
  assert.equal(times.length, 4);
  for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 3_000, `gap ${i}: ${times[i]! - times[i - 1]!} ms`);
});

void test('start-first, parallelism 1: never fewer than 4 up, at most one extra task', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, delayMs: 2_000, order: 'start-first', monitorMs: 1_000 });
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.equal(sim.minUp, 4);
  assert.equal(sim.maxRunning, 5);
  assert.ok(sim.live().every(isNew));
  assert.equal(sim.live().length, 4);
});

void test('parallelism 2: two slots in flight at a time, never fewer than 2 up', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 2, monitorMs: 1_000 });
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.equal(sim.minUp, 2);
  const times = createdTimes(sim);
  assert.equal(times[0], times[1], 'the first batch starts together');
  assert.ok(times[2]! > times[1]!);
});

void test('parallelism 0 updates every slot at once', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 0, ...NO_MONITOR });
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.equal(sim.minUp, 0);
  assert.equal(new Set(createdTimes(sim)).size, 1);
});

void test('the monitor period holds the next batch until the new task stayed up that long', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, monitorMs: 5_000 });
  await sim.runUntil((s) => s.tasksOf(2).length === 2);
  const [first, second] = sim.tasksOf(2);
  // The first new task ran at +100 ms (old stopped) + 100 ms (start): the next starts 5 s later.
  assert.ok(timeOf(second!.createdAt) - timeOf(first!.createdAt) >= 5_000);
  assert.equal(state(sim), 'updating');
});

void test('a new task failing within the monitor period pauses the update (failure action pause)', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, monitorMs: 5_000, failureAction: 'pause' }, (t) => (isNew(t) ? { crashAfterMs: 1_000 } : {}));
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'paused');
  assert.match(sim.service.updateStatus!.message, /^update paused: 1 of 4 tasks failed \(max failure ratio 0\); first: task \w+ in slot 1 failed with exit code 1$/);
  // Nothing more is taken on: three slots still run the old spec.
  await sim.runUntil(() => false, 20_000);
  assert.equal(sim.live().filter((t) => !isNew(t)).length, 3);
  assert.equal(state(sim), 'paused');
  // The crashed slot keeps being restarted (restart policy), with the current spec.
  assert.ok(sim.tasksOf(2).length > 1);

  // A new spec update starts over.
  const next = structuredClone(sim.service.spec);
  next.taskTemplate.container.env = ['V=3'];
  sim.setService(withNewSpec(sim.service, next, true, clock.now()));
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.ok(sim.live().every((t) => env(t) === 'V=3'));
});

void test('maxFailureRatio: failures up to the ratio are tolerated, the next one triggers the action', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, monitorMs: 2_000, maxFailureRatio: 0.5 }, (t) => (isNew(t) ? { crashAfterMs: 500 } : {}));
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'paused');
  assert.match(sim.service.updateStatus!.message, /3 of 4 tasks failed \(max failure ratio 0.5\)/);
  const touched = new Set(sim.tasksOf(2).map((t) => t.slot));
  assert.equal(touched.size, 3, 'two failed slots were tolerated, the third paused it');
});

void test('failure action continue: every slot is updated despite failures', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, monitorMs: 2_000, failureAction: 'continue' }, (t) => (isNew(t) ? { crashAfterMs: 500 } : {}));
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.equal(sim.service.updateStatus?.message, 'update completed with 4 failed tasks');
  assert.equal(new Set(sim.tasksOf(2).map((t) => t.slot)).size, 4);
});

void test('failure action rollback: a crashing update rolls back on its own to the old spec', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, monitorMs: 2_000, failureAction: 'rollback' }, (t) => (isNew(t) ? { crashAfterMs: 300 } : {}));
  assert.ok(await sim.runUntil(settled));
  const s = sim.service;
  assert.equal(s.updateStatus?.state, 'rollback_completed');
  assert.match(s.updateStatus!.message, /^rollback completed \(update failed: 1 of 4 tasks failed .*failed with exit code 1; rolling back\)$/);
  assert.equal(s.specVersion, 3);
  assert.equal(s.previousSpecVersion, 2);
  assert.deepEqual(s.spec.taskTemplate.container.env, ['V=1']);
  assert.deepEqual(s.previousSpec?.taskTemplate.container.env, ['V=2']);
  const live = sim.live();
  assert.equal(live.length, 4);
  assert.ok(live.every((t) => env(t) === 'V=1' && t.status.state === 'running'));
  assert.ok(sim.minUp >= 3, 'only the one updated slot was ever down (rollbackConfig parallelism 0)');
});

void test('failure action rollback: a health check that never passes rolls back', async () => {
  const clock = new FakeClock();
  const healthcheck = { test: ['CMD', 'false'], intervalMs: 100, timeoutMs: 100, retries: 1, startPeriodMs: 0 };
  const sim = updated(clock, { parallelism: 1, monitorMs: 2_000, failureAction: 'rollback', order: 'start-first' }, (t) =>
    isNew(t) ? { health: 'unhealthy', healthMs: 1_000 } : {},
  );
  const next = structuredClone(sim.service.spec);
  next.taskTemplate.container.healthcheck = healthcheck;
  sim.setService({ ...sim.service, spec: next });
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'rollback_completed');
  assert.match(sim.service.updateStatus!.message, /in slot 1 is unhealthy; rolling back\)$/);
  assert.ok(sim.live().every((t) => env(t) === 'V=1' && t.spec.container.healthcheck === undefined));
  assert.equal(sim.minUp, 4, 'start-first: the old task served until the rollback');
});

void test('rolling back a rollback returns to the newer spec', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 2, ...NO_MONITOR });
  assert.ok(await sim.runUntil(settled));
  sim.setService(rolledBack(sim.service, 'manually requested rollback', clock.now())!);
  assert.equal(state(sim), 'rollback_started');
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'rollback_completed');
  assert.equal(sim.service.updateStatus?.message, 'rollback completed (manually requested rollback)');
  assert.ok(sim.live().every((t) => env(t) === 'V=1' && t.specVersion === 3));

  sim.setService(rolledBack(sim.service, 'manually requested rollback', clock.now())!);
  assert.equal(sim.service.specVersion, 4);
  assert.equal(sim.service.previousSpecVersion, 3);
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'rollback_completed');
  assert.ok(sim.live().every((t) => env(t) === 'V=2' && t.specVersion === 4));
  assert.equal(sim.live().length, 4);
});

void test('a failing rollback pauses (rollback_paused); it never rolls back itself', async () => {
  const clock = new FakeClock();
  // The update itself is fine; rolling back to V=1 fails because V=1 now crashes.
  let v1Crashes = false;
  const sim = updated(clock, { parallelism: 1, ...NO_MONITOR, failureAction: 'rollback' }, (t) =>
    v1Crashes && !isNew(t) ? { crashAfterMs: 200 } : {},
  );
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  v1Crashes = true;
  const base: Service = sim.service;
  const withFailingRollback = { ...base, spec: { ...base.spec, rollbackConfig: { ...base.spec.rollbackConfig, failureAction: 'rollback' as const } } };
  sim.setService(rolledBack(withFailingRollback, 'manually requested rollback', clock.now())!);
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'rollback_paused');
  assert.match(sim.service.updateStatus!.message, /^rollback paused: /);
});

void test('a global service is updated node by node', async () => {
  const clock = new FakeClock();
  const base = makeService({ spec: { mode: 'global', taskTemplate: { container: { env: ['V=1'] } }, updateConfig: { parallelism: 1, monitorMs: 500 } } });
  const sim = new RolloutSim(base, clock);
  assert.ok(await sim.runUntil((s) => s.live().filter((t) => t.status.state === 'running').length === 3));
  const next = structuredClone(base.spec);
  next.taskTemplate.container.env = ['V=2'];
  sim.setService(withNewSpec(base, next, true, clock.now()));
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.equal(sim.minUp, 2);
  assert.deepEqual(sim.live().map((t) => t.nodeId).sort(), ['n1', 'n2', 'n3']);
  assert.ok(sim.live().every(isNew));
});

void test('a spec bumped without a rollout status starts one (implicit update)', async () => {
  const clock = new FakeClock();
  const sim = updated(clock, { parallelism: 1, ...NO_MONITOR });
  const { updateStatus: _drop, ...bare } = sim.service;
  sim.setService(bare);
  assert.ok(await sim.runUntil(settled));
  assert.equal(state(sim), 'completed');
  assert.equal(sim.minUp, 3);
});
