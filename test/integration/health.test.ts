/**
 * Health checks end to end on a real Docker engine: a `flotilla dev` cluster runs a service
 * whose CMD-SHELL check passes until its file is removed; the task turns healthy, then
 * unhealthy, is failed with the check's output and replaced. How fast is a benchmark's
 * question (the time is printed as a diagnostic); this test only asserts that it happens. The service is created through the REST client (the CLI has no --health-* flags
 * yet); everything else goes through the CLI.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlotillaClient } from '../../src/client/client.ts';
import { DevCluster, docker, dockerSkipReason, waitUntil, type TaskJson } from './dev-cluster.ts';

const IMAGE = 'flotilla/busybox:test';
const skip = await dockerSkipReason();

type HealthTask = TaskJson & { status: TaskJson['status'] & { health?: string } };

describe('health checks on a real Docker engine', { skip }, () => {
  let c: DevCluster;
  before(async () => {
    c = await DevCluster.start(['--driver', 'docker']);
  });
  after(async () => {
    await c?.destroy();
  });

  it('replaces a container that turns unhealthy', async (t) => {
    const intervalMs = 500;
    const retries = 3;
    const client = new FlotillaClient({ socketPath: join(c.home, 'flotilla.sock') });
    await client.createService({
      name: 'checked',
      taskTemplate: {
        driver: 'docker',
        container: {
          image: IMAGE,
          command: ['sh', '-c', 'touch /tmp/ok; exec sleep 3600'],
          stopGracePeriodMs: 2_000,
          healthcheck: { test: ['CMD-SHELL', 'test -f /tmp/ok || { echo "/tmp/ok is gone"; exit 1; }'], intervalMs, timeoutMs: 2_000, retries },
        },
        restartPolicy: { condition: 'any', delayMs: 0 },
      },
    });
    const tasks = async (): Promise<HealthTask[]> => c.json<HealthTask[]>('service', 'ps', 'checked');
    let first: HealthTask | undefined;
    await waitUntil(async () => {
      first = (await tasks()).find((t) => t.status.state === 'running' && t.status.health === 'healthy');
      return first !== undefined;
    }, 120_000, 'a healthy task of checked');
    assert.ok(first?.status.containerId);

    await docker('exec', first.status.containerId, 'rm', '/tmp/ok');
    const brokeAt = Date.now();
    let replacedAfterMs = 0;
    await waitUntil(async () => {
      const now = await tasks();
      const replacement = now.find((t) => t.id !== first?.id && t.desiredState === 'running' && t.status.state === 'running');
      if (replacement) replacedAfterMs = Date.now() - brokeAt;
      return replacement !== undefined;
    }, 120_000, 'a replacement for the unhealthy task');
    t.diagnostic(`unhealthy task replaced ${replacedAfterMs} ms after its check started failing (interval ${intervalMs} ms × ${retries} retries)`);

    const old = (await tasks()).find((t) => t.id === first?.id);
    assert.equal(old?.status.state, 'failed');
    assert.equal(old?.status.health, 'unhealthy');
    assert.equal(old?.status.err, 'unhealthy: /tmp/ok is gone');
    assert.equal(old?.desiredState, 'shutdown');
    await waitUntil(async () => (await docker('inspect', '--format', '{{.State.Running}}', first!.status.containerId!)).trim() === 'false',
      60_000, 'the unhealthy container to be stopped');
  });
});
