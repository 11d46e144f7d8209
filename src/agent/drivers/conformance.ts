import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { TASK_LABELS } from '../../api/service.ts';
import { isDriverError, type Driver, type DriverTask, type LogLine, type StartResult } from './driver.ts';
import { TRAPPED_EXIT, type TaskBehaviour } from './sample-tasks.ts';

/**
 * The one contract suite every driver passes (node:test). A driver's test file calls
 * `runDriverConformance` with a factory for driver instances (each call a new instance on the
 * same node and state, as after an agent restart) and a mapping from behaviours to tasks.
 */

/** Makes a new driver instance on the same node (and state dir / host / engine) as the others. */
export type MakeDriver = () => Driver | Promise<Driver>;
/** Makes the task for `behaviour`, with id `taskId`, on the driver's node. */
export type MakeTask = (taskId: string, behaviour: TaskBehaviour) => DriverTask;

export interface ConformanceOptions {
  /** Skip the whole suite, saying why ("no Docker engine at …"). */
  readonly skip?: string;
  /** Runs last, after every task the suite made was removed, even when tests failed. */
  readonly cleanup?: () => Promise<void>;
  /**
   * Timeout of the whole suite, a hang catcher: default 10 min, since a loaded machine's engine
   * may take seconds per container (speed is a benchmark's question).
   */
  readonly timeoutMs?: number;
}

const LONG_GRACE_MS = 20_000;

export function runDriverConformance(
  name: string,
  makeDriver: MakeDriver,
  makeTask: MakeTask,
  options: ConformanceOptions = {},
): void {
  // Task ids unique per run, so leftovers of a crashed run never collide with this one.
  const prefix = `ct${randomBytes(4).toString('hex')}`;
  let seq = 0;
  const made: string[] = [];
  const drivers: Driver[] = [];
  const newTask = (b: TaskBehaviour): DriverTask => {
    const id = `${prefix}-${++seq}`;
    made.push(id);
    return makeTask(id, b);
  };
  const newDriver = async (): Promise<Driver> => {
    const d = await makeDriver();
    drivers.push(d);
    return d;
  };
  /** prepare + start. */
  const run = async (d: Driver, b: TaskBehaviour): Promise<{ task: DriverTask; started: StartResult }> => {
    const task = newTask(b);
    await d.prepare(task);
    return { task, started: await d.start(task.id) };
  };
  const timeout = options.timeoutMs ?? 600_000;

  void describe(`${name} driver conformance`, { skip: options.skip ?? false, timeout }, () => {
    after(async () => {
      const d = await makeDriver();
      for (const id of made) {
        await d.remove(id).catch(() => undefined);
      }
      for (const x of [...drivers, d]) await x.close().catch(() => undefined);
      await options.cleanup?.();
    });

    void test('fingerprint says the driver is available', async () => {
      const d = await newDriver();
      const fp = await d.fingerprint();
      assert.equal(fp.available, true, fp.reason);
    });

    for (const code of [0, 3]) {
      void test(`prepare, start and wait report exit code ${code}`, async () => {
        const d = await newDriver();
        const task = newTask({ kind: 'exit', code });
        await d.prepare(task);
        const created = await d.inspect(task.id);
        assert.equal(created?.state, 'created');
        assert.equal(created.labels[TASK_LABELS.taskId], task.id);
        const started = await d.start(task.id);
        assert.ok(started.containerId !== undefined || started.pid !== undefined, 'start names a container or pid');
        const exit = await d.wait(task.id);
        assert.equal(exit.exitCode, code);
        const done = await d.inspect(task.id);
        assert.equal(done?.state, 'exited');
        assert.equal(done.exitCode, code);
      });
    }

    void test('inspect shows a running task with its labels', async () => {
      const d = await newDriver();
      const { task, started } = await run(d, { kind: 'serve' });
      await waitForLine(d, task.id, 'ready');
      const info = await d.inspect(task.id);
      assert.equal(info?.state, 'running');
      assert.equal(info.taskId, task.id);
      assert.equal(info.labels[TASK_LABELS.taskId], task.id);
      assert.equal(info.labels[TASK_LABELS.serviceId], task.serviceId);
      assert.equal(info.labels[TASK_LABELS.serviceName], task.serviceName);
      assert.equal(info.labels[TASK_LABELS.nodeId], task.nodeId);
      assert.equal(info.containerId, started.containerId);
      if (started.pid !== undefined) assert.equal(info.pid, started.pid);
      await d.stop(task.id, { signal: 'SIGTERM', gracePeriodMs: LONG_GRACE_MS });
    });

    void test('every operation is idempotent', async () => {
      const d = await newDriver();
      const task = newTask({ kind: 'serve' });
      await d.prepare(task);
      await d.prepare(task);
      const first = await d.start(task.id);
      const second = await d.start(task.id);
      assert.deepEqual(second, first);
      await waitForLine(d, task.id, 'ready');
      await d.stop(task.id, { signal: 'SIGTERM', gracePeriodMs: LONG_GRACE_MS });
      await d.stop(task.id, { signal: 'SIGTERM', gracePeriodMs: LONG_GRACE_MS });
      assert.equal((await d.wait(task.id)).exitCode, TRAPPED_EXIT.SIGTERM);
      await d.remove(task.id);
      await d.remove(task.id);
      assert.equal(await d.inspect(task.id), undefined);
    });

    void test('a task the driver never saw: inspect is undefined, stop and remove succeed, start and wait fail', async () => {
      const d = await newDriver();
      const id = `${prefix}-unknown`;
      assert.equal(await d.inspect(id), undefined);
      await d.stop(id, { signal: 'SIGTERM', gracePeriodMs: 1_000 });
      await d.remove(id);
      await assert.rejects(d.start(id), (e) => isDriverError(e) && e.code === 'not_found');
      await assert.rejects(d.wait(id), (e) => isDriverError(e) && e.code === 'not_found');
    });

    void test('stop sends the stop signal; a task that traps it exits on its own terms', async () => {
      const d = await newDriver();
      const { task } = await run(d, { kind: 'serve' });
      await waitForLine(d, task.id, 'ready');
      await d.stop(task.id, { signal: 'SIGTERM', gracePeriodMs: LONG_GRACE_MS });
      // Gone once stop resolves.
      assert.equal((await d.inspect(task.id))?.state, 'exited');
      assert.equal((await d.wait(task.id)).exitCode, TRAPPED_EXIT.SIGTERM);
    });

    void test('stop sends the signal it is given (SIGUSR1)', async () => {
      const d = await newDriver();
      const { task } = await run(d, { kind: 'serve' });
      await waitForLine(d, task.id, 'ready');
      await d.stop(task.id, { signal: 'SIGUSR1', gracePeriodMs: LONG_GRACE_MS });
      assert.equal((await d.wait(task.id)).exitCode, TRAPPED_EXIT.SIGUSR1);
    });

    void test('stop kills a task that ignores the signal once the grace period is over', async () => {
      const d = await newDriver();
      const { task } = await run(d, { kind: 'ignore-stop' });
      await waitForLine(d, task.id, 'ready');
      const graceMs = 500;
      const t0 = performance.now();
      await d.stop(task.id, { signal: 'SIGTERM', gracePeriodMs: graceMs });
      assert.ok(performance.now() - t0 >= graceMs - 50, 'stop waited for the grace period');
      assert.equal((await d.inspect(task.id))?.state, 'exited');
      assert.equal((await d.wait(task.id)).exitCode, 137);
    });

    void test('remove leaves nothing behind, for exited and running tasks', async () => {
      const d = await newDriver();
      const { task: done } = await run(d, { kind: 'print' });
      await d.wait(done.id);
      const { task: live } = await run(d, { kind: 'serve' });
      await waitForLine(d, live.id, 'ready');
      await d.remove(done.id);
      await d.remove(live.id);
      assert.equal(await d.inspect(done.id), undefined);
      assert.equal(await d.inspect(live.id), undefined);
      const ids = (await (await newDriver()).recover()).map((i) => i.taskId);
      assert.ok(!ids.includes(done.id) && !ids.includes(live.id), 'recover does not find removed tasks');
    });

    void test('logs returns stdout and stderr lines, and tail limits them', async () => {
      const d = await newDriver();
      const { task } = await run(d, { kind: 'print' });
      assert.equal((await d.wait(task.id)).exitCode, 0);
      const lines = await collect(d.logs(task.id, { follow: false }));
      assert.deepEqual(lines.filter((l) => l.stream === 'stdout').map((l) => l.line), ['out-1', 'out-2']);
      assert.deepEqual(lines.filter((l) => l.stream === 'stderr').map((l) => l.line), ['err-1']);
      for (const l of lines) if (l.time !== undefined) assert.ok(!Number.isNaN(Date.parse(l.time)), `ISO time: ${l.time}`);
      const tail = await collect(d.logs(task.id, { follow: false, tail: 1 }));
      assert.equal(tail.length, 1);
    });

    void test('logs with follow streams lines as they come and ends when the task exits', async () => {
      const d = await newDriver();
      const { task } = await run(d, { kind: 'tick', count: 5 });
      const lines = await collect(d.logs(task.id, { follow: true }, AbortSignal.timeout(20_000)));
      assert.deepEqual(lines.map((l) => l.line), ['tick-0', 'tick-1', 'tick-2', 'tick-3', 'tick-4']);
      assert.equal((await d.wait(task.id)).exitCode, 0);
    });

    void test('logs with follow ends quietly when its signal aborts', async () => {
      const d = await newDriver();
      const { task } = await run(d, { kind: 'tick', count: 0 });
      const ac = new AbortController();
      const seen: string[] = [];
      for await (const l of d.logs(task.id, { follow: true }, ac.signal)) {
        seen.push(l.line);
        if (seen.length === 2) ac.abort();
      }
      assert.deepEqual(seen.slice(0, 2), ['tick-0', 'tick-1']);
      await d.remove(task.id);
    });

    void test('a new driver instance recovers tasks from before a restart and adopts them', async () => {
      const a = await newDriver();
      const { task: live, started } = await run(a, { kind: 'serve' });
      await waitForLine(a, live.id, 'ready');
      const { task: done } = await run(a, { kind: 'exit', code: 7 });
      await a.wait(done.id);
      await a.close();

      const b = await newDriver();
      const found = await b.recover();
      const liveInfo = found.find((i) => i.taskId === live.id);
      const doneInfo = found.find((i) => i.taskId === done.id);
      assert.equal(liveInfo?.state, 'running');
      assert.equal(liveInfo.containerId, started.containerId);
      if (started.pid !== undefined) assert.equal(liveInfo.pid, started.pid);
      assert.equal(liveInfo.labels[TASK_LABELS.serviceId], live.serviceId);
      assert.equal(doneInfo?.state, 'exited');
      assert.equal(doneInfo.exitCode, 7);
      const waiting = b.wait(live.id);
      await b.stop(live.id, { signal: 'SIGTERM', gracePeriodMs: LONG_GRACE_MS });
      assert.equal((await waiting).exitCode, TRAPPED_EXIT.SIGTERM);
      assert.equal((await b.wait(done.id)).exitCode, 7);
    });

    void test('prepare fails with a DriverError for a task that cannot run, and leaves nothing', async () => {
      const d = await newDriver();
      const task = newTask({ kind: 'bad' });
      await assert.rejects(d.prepare(task), (e) => {
        assert.ok(isDriverError(e), `a DriverError, got ${String(e)}`);
        assert.ok(['image_not_found', 'invalid_spec'].includes(e.code), `code ${e.code}`);
        assert.ok(e.message.length > 0);
        return true;
      });
      assert.equal(await d.inspect(task.id), undefined);
    });
  });
}

/** Follows the task's logs until a line equals `want` (fails after `ms`). */
export async function waitForLine(d: Driver, taskId: string, want: string, ms = 15_000): Promise<void> {
  const signal = AbortSignal.timeout(ms);
  for await (const l of d.logs(taskId, { follow: true }, signal)) {
    if (l.line === want) return;
  }
  throw new Error(`task ${taskId} did not print "${want}" within ${ms}ms`);
}

async function collect(lines: AsyncIterable<LogLine>): Promise<LogLine[]> {
  const out: LogLine[] = [];
  for await (const l of lines) out.push(l);
  return out;
}
