import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import Docker from 'dockerode';
import { TASK_LABELS } from '../../../api/service.ts';
import { systemClock } from '../../../lib/clock.ts';
import { runDriverConformance } from '../conformance.ts';
import { isDriverError } from '../driver.ts';
import { driverTask, shellScript, type TaskBehaviour } from '../sample-tasks.ts';
import { parseDockerHost } from './docker-host.ts';
import { DockerDriver } from './docker-driver.ts';
import { engineUnavailable, TEST_IMAGE } from '../../../testing/docker-engine.ts';

/**
 * Runs against the Docker engine at DOCKER_HOST (default /var/run/docker.sock) with the local
 * image flotilla/busybox:test (scripts/build-images.sh). Without an engine or the image the
 * suite is skipped, unless FLOTILLA_REQUIRE_DOCKER=1 makes that a failure.
 */
const IMAGE = TEST_IMAGE;
// Pulling from a registry on a closed local port fails at once, without leaving the machine.
const MISSING_IMAGE = 'localhost:1/flotilla/no-such-image:conformance';
// A node id unique to this run: every container the tests make carries it, for cleanup.
const NODE = `conformance-${randomBytes(4).toString('hex')}`;

const newDriver = (): DockerDriver => new DockerDriver({ nodeId: NODE, clock: systemClock });
const docker = new Docker(parseDockerHost(undefined).options);

const reason = await engineUnavailable(newDriver(), docker);
const required = process.env['FLOTILLA_REQUIRE_DOCKER'] === '1';
if (reason !== undefined && required) {
  void test('a Docker engine is required (FLOTILLA_REQUIRE_DOCKER=1)', () => assert.fail(reason));
}
const skip = reason === undefined || required ? undefined : `skipped: ${reason}`;

async function removeAllOfThisRun(): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${TASK_LABELS.nodeId}=${NODE}`] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
}

function dockerTask(id: string, b: TaskBehaviour) {
  return driverTask({
    id,
    nodeId: NODE,
    driver: 'docker',
    container: { image: b.kind === 'bad' ? MISSING_IMAGE : IMAGE, command: ['sh', '-c', shellScript(b)] },
  });
}

runDriverConformance('docker', newDriver, dockerTask, {
  ...(skip === undefined ? {} : { skip }),
  cleanup: removeAllOfThisRun,
});

void describe('DockerDriver specifics', { skip: skip ?? false }, () => {
  let n = 0;
  const id = (): string => `dk${randomBytes(3).toString('hex')}-${++n}`;

  void test('containers are named, labelled and configured as Swarm does', async () => {
    const d = newDriver();
    const t = driverTask({
      id: id(), nodeId: NODE, serviceName: 'web', slot: 2, driver: 'docker',
      container: {
        image: IMAGE, command: ['sh', '-c'], args: ['echo "$GREETING from $(pwd) as $(id -u)"'],
        env: ['GREETING=hello'], workdir: '/tmp', user: 'nobody', labels: { team: 'a' },
        stopSignal: 'SIGINT', stopGracePeriodMs: 3_000,
      },
      resources: { limits: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024 }, reservations: { nanoCpus: 0, memoryBytes: 32 * 1024 * 1024 } },
    });
    try {
      await d.prepare(t);
      const { containerId } = await d.start(t.id);
      assert.equal((await d.wait(t.id)).exitCode, 0);
      const info = await docker.getContainer(containerId ?? '').inspect();
      assert.equal(info.Name, `/web.2.${t.id}`);
      assert.equal(info.Config.Labels[TASK_LABELS.slot], '2');
      assert.equal(info.Config.Labels['team'], 'a');
      assert.equal((info.Config as { StopSignal?: string }).StopSignal, 'SIGINT');
      assert.equal(info.HostConfig.NanoCpus, 500_000_000);
      assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(info.HostConfig.MemoryReservation, 32 * 1024 * 1024);
      assert.equal(info.HostConfig.RestartPolicy?.Name, 'no');
      const lines = [];
      for await (const l of d.logs(t.id, { follow: false })) lines.push(l);
      assert.deepEqual(lines.map((l) => l.line), ['hello from /tmp as 65534']);
      assert.ok(lines[0]?.time && !Number.isNaN(Date.parse(lines[0].time)));
    } finally {
      await d.remove(t.id);
    }
  });

  void test('a missing image is rejected with the engine’s own message and no container', async () => {
    const d = newDriver();
    const t = driverTask({ id: id(), nodeId: NODE, driver: 'docker', container: { image: MISSING_IMAGE } });
    await assert.rejects(d.prepare(t), (e) => isDriverError(e) && e.code === 'image_not_found' && /localhost:1/.test(e.message));
    assert.equal(await d.inspect(t.id), undefined);
  });

  void test('fingerprint names the engine, or says why there is none', async () => {
    const fp = await newDriver().fingerprint();
    assert.equal(fp.engine?.name, 'docker');
    assert.match(fp.engine.version, /^\d+\./);
    const none = await new DockerDriver({ nodeId: NODE, clock: systemClock, dockerHost: 'unix:///nonexistent/docker.sock' }).fingerprint();
    assert.equal(none.available, false);
    assert.match(none.reason ?? '', /^no Docker engine at unix:\/\/\/nonexistent\/docker.sock: connect ENOENT/);
  });
});
