import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { systemClock } from '../../../lib/clock.ts';
import { isDriverError } from '../driver.ts';
import { driverTask } from '../sample-tasks.ts';
import { ExecDriver } from './exec-driver.ts';

const NODE = 'node-exec-in';
const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-exec-in-'));
const driver = new ExecDriver({ nodeId: NODE, dataDir, clock: systemClock, pollMs: 50 });

void describe('ExecDriver.execIn', () => {
  const task = driverTask({
    id: `exec-in-${process.pid}`, nodeId: NODE, driver: 'exec',
    container: { command: ['/bin/sh', '-c', 'exec sleep 60'], env: ['GREETING=hi'], workdir: '/tmp', stopGracePeriodMs: 0 },
  });
  after(async () => {
    await driver.remove(task.id);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('runs a command with the task’s env and workdir, giving its exit code and output', async () => {
    await driver.prepare(task);
    const r = await driver.execIn(task.id, ['/bin/sh', '-c', 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'], { timeoutMs: 5_000 });
    assert.equal(r.exitCode, 3);
    assert.equal(r.output, 'hi from /tmp\noops\n');
    assert.equal(r.timedOut, undefined);
    // argv[0] is found in the task's PATH.
    assert.equal((await driver.execIn(task.id, ['true'], { timeoutMs: 5_000 })).exitCode, 0);
    assert.equal((await driver.execIn(task.id, ['no-such-program-x'], { timeoutMs: 5_000 })).exitCode, 127);
  });

  test('kills the command and everything it started at the timeout', async () => {
    const started = Date.now();
    const r = await driver.execIn(task.id, ['/bin/sh', '-c', 'sleep 600 & sleep 600'], { timeoutMs: 200 });
    assert.equal(r.timedOut, true);
    // Both children sleep 10 minutes: returning long before that (the bound only has to tell the
    // two apart, however loaded the machine) means the pipes closed, no child outlived the kill.
    assert.ok(Date.now() - started < 300_000, 'the pipes closed: no child outlived the kill');
  });

  test('keeps only the first 4 KiB of output', async () => {
    const r = await driver.execIn(task.id, ['/bin/sh', '-c', 'i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done'], { timeoutMs: 5_000 });
    assert.equal(r.output.length, 4_096);
  });

  test('an unknown task is not_found', async () => {
    await assert.rejects(driver.execIn('exec-in-nope', ['true'], { timeoutMs: 1_000 }), (e) => isDriverError(e) && e.code === 'not_found');
  });
});
