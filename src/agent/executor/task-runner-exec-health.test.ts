import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type { Healthcheck } from '../../api/service.ts';
import type { Task, TaskStatus } from '../../api/task.ts';
import { systemClock } from '../../lib/clock.ts';
import { silentLogger } from '../../lib/logger.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { ExecDriver } from '../drivers/exec/exec-driver.ts';
import { TaskRunner } from './task-runner.ts';

/** Real processes on the exec driver, checked by the agent: an HTTP probe and a CMD-SHELL test. */
const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-exec-health-'));
const driver = new ExecDriver({ nodeId: 'n1', dataDir, clock: systemClock, pollMs: 50 });
const runners: TaskRunner[] = [];
after(async () => {
  for (const r of runners) await r.destroy();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * An HTTP server on 127.0.0.1, held by the test for the test's length: the task's probe target.
 * (Not a port bound, released and handed to the task to listen on: another process may take it in
 * between.)
 */
async function healthServer(t: TestContext): Promise<number> {
  const s = createServer((q, res) => {
    res.statusCode = q.url === '/health' ? 204 : 404;
    res.end();
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  t.after(() => {
    s.closeAllConnections();
    s.close();
  });
  return (s.address() as AddressInfo).port;
}

function start(command: string[], healthcheck: Healthcheck): { task: Task; reports: TaskStatus[]; until: (p: (s: TaskStatus) => boolean, what: string) => Promise<TaskStatus> } {
  const base = makeTask({ nodeId: 'n1', status: { state: 'assigned' } });
  const task: Task = {
    ...base,
    spec: { ...base.spec, driver: 'exec', container: { ...base.spec.container, command, stopGracePeriodMs: 1_000, healthcheck } },
  };
  const reports: TaskStatus[] = [];
  const waiters = new Set<() => void>();
  const report = (_: string, s: TaskStatus): void => {
    reports.push(s);
    for (const w of [...waiters]) w();
  };
  runners.push(new TaskRunner({ driver, clock: systemClock, logger: silentLogger, report }, task));
  const until = (p: (s: TaskStatus) => boolean, what: string): Promise<TaskStatus> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = reports.find(p);
        if (!hit) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; reports: ${JSON.stringify(reports.map((r) => [r.state, r.health, r.err]))}`));
      }, 60_000);
      waiters.add(check);
      check();
    });
  return { task, reports, until };
}

const fast = { intervalMs: 200, timeoutMs: 2_000, retries: 2, startPeriodMs: 0 };

void describe('TaskRunner health on the exec driver', () => {
  test('an http probe against 127.0.0.1 makes a task healthy', async (t) => {
    // Exec tasks share the host's network: the probe reaches what serves on the host's loopback
    // (here the test's server, which holds its port for the whole test).
    const port = await healthServer(t);
    const { until } = start(['/bin/sh', '-c', 'exec sleep 600'], { ...fast, http: { port, path: '/health', status: 204 } });
    await until((s) => s.health === 'starting', 'running/starting');
    await until((s) => s.health === 'healthy', 'running/healthy');
  });

  test('a CMD-SHELL test that starts failing fails the task and stops its process', async () => {
    const flag = join(dataDir, `ok-${process.pid}`);
    writeFileSync(flag, '');
    const { task, until } = start(['/bin/sh', '-c', 'exec sleep 600'], { ...fast, test: ['CMD-SHELL', `test -f ${flag} || { echo "no ${flag}"; exit 1; }`] });
    const healthy = await until((s) => s.health === 'healthy', 'running/healthy');
    rmSync(flag);
    const failed = await until((s) => s.state === 'failed', 'failed');
    assert.equal(failed.err, `unhealthy: no ${flag}`);
    assert.equal(failed.health, 'unhealthy');
    assert.equal(failed.pid, healthy.pid);
    const deadline = Date.now() + 60_000;
    while ((await driver.inspect(task.id))?.state === 'running') {
      assert.ok(Date.now() < deadline, 'the unhealthy process is stopped');
      await systemClock.sleep(50);
    }
    assert.equal(existsSync(flag), false);
  });
});
