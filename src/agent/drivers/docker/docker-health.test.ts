import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import Docker from 'dockerode';
import { TASK_LABELS, type Healthcheck } from '../../../api/service.ts';
import { systemClock } from '../../../lib/clock.ts';
import { httpProbe } from '../../health/probes.ts';
import type { HealthState } from '../driver.ts';
import { driverTask } from '../sample-tasks.ts';
import { parseDockerHost } from './docker-host.ts';
import { DockerDriver } from './docker-driver.ts';
import { engineUnavailable, skipUnlessRequired, TEST_IMAGE } from '../../../testing/docker-engine.ts';

/**
 * Health checks on a real engine (flotilla/busybox:test): Docker runs the spec's `test` and
 * the driver reads its verdict; the container's address lets the agent probe it. Skipped
 * like the driver suite when there is no engine, unless FLOTILLA_REQUIRE_DOCKER=1.
 */
const IMAGE = TEST_IMAGE;
const NODE = `health-${randomBytes(4).toString('hex')}`;
const docker = new Docker(parseDockerHost(undefined).options);
const driver = new DockerDriver({ nodeId: NODE, clock: systemClock });

const skip = skipUnlessRequired(await engineUnavailable(driver, docker));

const fast = { intervalMs: 300, timeoutMs: 2_000, retries: 2, startPeriodMs: 0 };

async function run(script: string, healthcheck?: Healthcheck): Promise<string> {
  const id = `hc${randomBytes(4).toString('hex')}`;
  const t = driverTask({
    id, nodeId: NODE, driver: 'docker',
    container: { image: IMAGE, command: ['sh', '-c', script], stopGracePeriodMs: 0, ...(healthcheck ? { healthcheck } : {}) },
  });
  await driver.prepare(t);
  await driver.start(id);
  return id;
}

/** Polls the driver's health until it is `want` (or the deadline passes); returns the report. */
async function healthBecomes(id: string, want: HealthState, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await driver.health(id);
    if (r?.status === want) return r;
    if (Date.now() > deadline) assert.fail(`task ${id}: health ${r?.status ?? 'none'} after ${timeoutMs}ms, expected ${want}`);
    await systemClock.sleep(100);
  }
}

void describe('DockerDriver health', { skip }, () => {
  after(async () => {
    const list = await docker.listContainers({ all: true, filters: { label: [`${TASK_LABELS.nodeId}=${NODE}`] } });
    await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  });

  void test('a passing CMD-SHELL check makes the container healthy; one that starts failing, unhealthy', async () => {
    const id = await run('touch /tmp/ok; exec sleep 600', { ...fast, test: ['CMD-SHELL', 'test -f /tmp/ok || { echo "no /tmp/ok"; exit 1; }'] });
    assert.equal((await driver.health(id))?.status, 'starting');
    await healthBecomes(id, 'healthy');
    const info = await driver.inspect(id);
    assert.ok(info?.containerId);
    await docker.getContainer(info.containerId).exec({ Cmd: ['rm', '/tmp/ok'] }).then((e) => e.start({}));
    const bad = await healthBecomes(id, 'unhealthy');
    assert.equal(bad.output, 'no /tmp/ok');
  });

  void test('a failing CMD check turns unhealthy with its exit code when it prints nothing', async () => {
    const id = await run('exec sleep 600', { ...fast, test: ['CMD', 'false'] });
    const bad = await healthBecomes(id, 'unhealthy');
    assert.equal(bad.output, 'exit code 1');
  });

  void test('no health check: health is undefined; test NONE too', async () => {
    assert.equal(await driver.health(await run('exec sleep 600')), undefined);
    assert.equal(await driver.health(await run('exec sleep 600', { ...fast, test: ['NONE'] })), undefined);
    assert.equal(await driver.health('no-such-task'), undefined);
  });

  void test('inspect gives the container’s address, which the agent’s http probe reaches', async () => {
    const id = await run('mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www', {
      ...fast, http: { port: 8080, path: '/' },
    });
    const info = await driver.inspect(id);
    assert.match(info?.address ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.equal(await driver.health(id), undefined, 'Docker runs no check: the agent probes');
    const probe = httpProbe({ port: 8080, path: '/' }, () => Promise.resolve(info?.address ?? ''));
    const deadline = Date.now() + 60_000;
    let last;
    do {
      last = await probe(AbortSignal.timeout(2_000));
      if (!last.ok) await systemClock.sleep(100);
    } while (!last.ok && Date.now() < deadline);
    assert.equal(last.ok, true, last.output);
  });
});
