import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Healthcheck } from '../../api/service.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { driverTask } from '../drivers/sample-tasks.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import type { HealthState } from '../drivers/driver.ts';
import { healthSource, watchHealth } from './task-health.ts';

const timing = { intervalMs: 1_000, timeoutMs: 1_000, retries: 3, startPeriodMs: 0 };
const hc = (probe: Partial<Healthcheck>): Healthcheck => ({ ...timing, ...probe });
const judgeSelf = { health: () => Promise.resolve(undefined) };
const execs = { execIn: () => Promise.resolve({ exitCode: 0, output: '' }) };

void describe('healthSource', () => {
  void it('picks who checks a task', () => {
    assert.equal(healthSource(undefined, {}), 'none');
    assert.equal(healthSource(undefined, judgeSelf), 'driver', 'the image’s own HEALTHCHECK');
    assert.equal(healthSource(hc({ test: ['NONE'] }), judgeSelf), 'none');
    assert.equal(healthSource(hc({ test: ['CMD-SHELL', 'true'] }), judgeSelf), 'driver');
    assert.equal(healthSource(hc({ test: ['CMD-SHELL', 'true'] }), execs), 'command');
    assert.equal(healthSource(hc({ test: ['CMD-SHELL', 'true'] }), {}), 'none');
    assert.equal(healthSource(hc({ http: { port: 80, path: '/' } }), judgeSelf), 'http');
    assert.equal(healthSource(hc({ tcp: { port: 80 } }), execs), 'tcp');
  });
});

void describe('watchHealth', () => {
  async function started(env: string[], check?: Healthcheck) {
    const clock = new FakeClock();
    const driver = new FakeDriver({ nodeId: 'n1', clock });
    const task = driverTask({ id: 't1', nodeId: 'n1', driver: 'fake', container: { env } });
    await driver.prepare(task);
    await driver.start(task.id);
    const changes: Array<[HealthState, string]> = [];
    const w = watchHealth({ driver, clock, logger: silentLogger }, { id: task.id, check }, (h, o) => changes.push([h, o]));
    return { clock, driver, changes, w, task };
  }

  void it('follows a driver-judged health by polling', async () => {
    const { clock, changes, w } = await started(['FAKE_HEALTH=starting:1500,healthy:3000,unhealthy']);
    assert.ok(w);
    await clock.advance(0);
    assert.deepEqual(changes, [['starting', '']]);
    await clock.advance(2_000);
    assert.deepEqual(changes.at(-1), ['healthy', '']);
    await clock.advance(3_000);
    assert.deepEqual(changes.at(-1), ['unhealthy', 'fake health check failed']);
    w.stop();
    assert.equal(clock.pendingTimers, 0);
  });

  void it('polls no faster than the spec’s interval asks', async () => {
    const { clock, changes, w } = await started(['FAKE_HEALTH=starting:150,healthy'], hc({ test: ['CMD', 'x'], intervalMs: 100 }));
    await clock.advance(200);
    assert.deepEqual(changes.map((c) => c[0]), ['starting', 'healthy']);
    w?.stop();
  });

  void it('stops polling when the driver knows no health check', async () => {
    const { clock, changes } = await started([]);
    await clock.advance(0);
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(changes, []);
  });

  void it('watches nothing for test NONE', async () => {
    const { w } = await started(['FAKE_HEALTH=healthy'], hc({ test: ['NONE'] }));
    assert.equal(w, undefined);
  });
});
