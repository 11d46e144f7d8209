import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { systemClock } from '../../../lib/clock.ts';
import { runDriverConformance, waitForLine } from '../conformance.ts';
import { isDriverError, type LogLine } from '../driver.ts';
import { driverTask, shellScript, type TaskBehaviour } from '../sample-tasks.ts';
import { ExecDriver } from './exec-driver.ts';
import { parseProcStat } from './proc.ts';
import { parseExit } from './task-dir.ts';
import { resolveUser } from './users.ts';

const execFileAsync = promisify(execFile);
const NODE = 'node-exec-1';
const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-exec-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const newDriver = (): ExecDriver => new ExecDriver({ nodeId: NODE, dataDir, clock: systemClock, pollMs: 50 });

function execCommand(b: TaskBehaviour): string[] {
  return b.kind === 'bad' ? ['/nonexistent/flotilla-no-such-program'] : ['/bin/sh', '-c', shellScript(b)];
}

runDriverConformance('exec', newDriver, (id, b) =>
  driverTask({ id, nodeId: NODE, driver: 'exec', container: { command: execCommand(b) } }),
);

void describe('ExecDriver', () => {
  let n = 0;
  const ids: string[] = [];
  const id = (): string => {
    const x = `exec-unit-${process.pid}-${++n}`;
    ids.push(x);
    return x;
  };
  after(async () => {
    const d = newDriver();
    for (const x of ids) await d.remove(x);
  });
  const output = async (d: ExecDriver, taskId: string): Promise<string[]> => {
    const out: LogLine[] = [];
    for await (const l of d.logs(taskId, { follow: false })) out.push(l);
    return out.map((l) => `${l.stream}:${l.line}`);
  };

  void test('runs command + args with env over a minimal base, in the workdir', async () => {
    const d = newDriver();
    const t = driverTask({
      id: id(), nodeId: NODE, driver: 'exec',
      container: { command: ['sh', '-c'], args: ['echo "$FOO|$PATH|$(pwd)|$#|$0"', 'zero'], env: ['FOO=bar'], workdir: '/tmp' },
    });
    await d.prepare(t);
    await d.start(t.id);
    assert.equal((await d.wait(t.id)).exitCode, 0);
    assert.deepEqual(await output(d, t.id), [`stdout:bar|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/tmp|0|zero`]);
  });

  void test('runs as the given user (name and uid:gid)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async () => {
    const d = newDriver();
    for (const [user, want] of [['nobody', '65534 65534'], ['1234:5678', '1234 5678']] as const) {
      const t = driverTask({ id: id(), nodeId: NODE, driver: 'exec', container: { command: ['sh', '-c', 'echo $(id -u) $(id -g)'], user } });
      await d.prepare(t);
      await d.start(t.id);
      assert.equal((await d.wait(t.id)).exitCode, 0);
      assert.deepEqual(await output(d, t.id), [`stdout:${want}`]);
    }
  });

  void test('bad specs are rejected at prepare with invalid_spec and leave nothing', async () => {
    const d = newDriver();
    const cases: Array<[Parameters<typeof driverTask>[0]['container'], RegExp]> = [
      [{}, /needs container.command/],
      [{ command: ['no-such-program-flotilla'] }, /not found in \$PATH/],
      [{ command: ['sh'], workdir: '/no/such/dir' }, /workdir/],
      [{ command: ['sh'], user: 'no-such-user-flotilla' }, /no user/],
      [{ command: ['sh'], env: ['NOEQUALS'] }, /KEY=VALUE/],
      [{ command: ['sh'], stopSignal: 'SIGBOGUS' }, /unknown signal/],
      [{ command: ['sh'], mounts: [{ type: 'volume', source: 'v', target: '/d', readOnly: false }] }, /^the exec driver cannot mount a volume \(mounts\[0\] at \/d\): use the docker driver$/],
      [{ command: ['sh'], capAdd: ['NET_ADMIN'], init: true }, /^the exec driver cannot add capabilities \(capAdd NET_ADMIN\); run an init process \(init\)/],
    ];
    for (const [container, msg] of cases) {
      const t = driverTask({ id: id(), nodeId: NODE, driver: 'exec', container: container ?? {} });
      await assert.rejects(d.prepare(t), (e) => isDriverError(e) && e.code === 'invalid_spec' && msg.test(e.message));
      assert.equal(await d.inspect(t.id), undefined);
    }
    // Tasks on networks: exec-driver.network.test.ts (in a throwaway namespace, never this one's).
  });

  void test('a supervisor killed from outside: the task is exited with a lost status, not running forever', async () => {
    const d = newDriver();
    const t = driverTask({ id: id(), nodeId: NODE, driver: 'exec', container: { command: ['sleep', '1000'] } });
    await d.prepare(t);
    const { pid } = await d.start(t.id);
    assert.ok(pid !== undefined);
    process.kill(-pid, 'SIGKILL');
    const r = await d.wait(t.id, AbortSignal.timeout(10_000));
    assert.equal(r.exitCode, 137);
    assert.match(r.reason ?? '', /lost/);
  });

  void test('a stop right after start reaches the program, not only its supervisor', async () => {
    const d = newDriver();
    for (let i = 0; i < 5; i++) {
      const t = driverTask({ id: id(), nodeId: NODE, driver: 'exec', container: { command: ['sleep', '1000'] } });
      await d.prepare(t);
      await d.start(t.id);
      await d.stop(t.id, { signal: 'SIGTERM', gracePeriodMs: 30_000 });
      assert.equal((await d.wait(t.id)).exitCode, 143, 'terminated by SIGTERM, not killed after the grace period');
      await d.remove(t.id);
    }
  });

  void test('a recorded pid whose start time differs (pid reuse) is not taken for the task', async () => {
    const d = newDriver();
    const t = driverTask({ id: id(), nodeId: NODE, driver: 'exec', container: { command: ['sleep', '1000'] } });
    await d.prepare(t);
    await d.start(t.id);
    const runPath = join(dataDir, 'exec', t.id, 'run.json');
    const run = JSON.parse(await readFile(runPath, 'utf8')) as { pid: number; startTime: number };
    await writeFile(runPath, JSON.stringify({ ...run, startTime: run.startTime + 1 }));
    assert.equal((await d.inspect(t.id))?.state, 'exited');
    await writeFile(runPath, JSON.stringify(run));
    assert.equal((await d.inspect(t.id))?.state, 'running');
    await d.stop(t.id, { signal: 'SIGTERM', gracePeriodMs: 5_000 });
    assert.equal((await d.wait(t.id)).exitCode, 143);
  });

  void test('adopts a process started by another agent process that has exited since', async () => {
    const taskId = id();
    const url = (rel: string): string => JSON.stringify(new URL(rel, import.meta.url).href);
    const script = `
      import { ExecDriver } from ${url('./exec-driver.ts')};
      import { driverTask, shellScript } from ${url('../sample-tasks.ts')};
      import { systemClock } from ${url('../../../lib/clock.ts')};
      const d = new ExecDriver({ nodeId: ${JSON.stringify(NODE)}, dataDir: ${JSON.stringify(dataDir)}, clock: systemClock });
      const t = driverTask({ id: ${JSON.stringify(taskId)}, nodeId: ${JSON.stringify(NODE)}, driver: 'exec',
        container: { command: ['/bin/sh', '-c', shellScript({ kind: 'serve' })] } });
      await d.prepare(t);
      const { pid } = await d.start(t.id);
      console.log(pid);
    `;
    const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script]);
    const pid = Number(stdout.trim());
    const d = newDriver();
    await waitForLine(d, taskId, 'ready');
    const info = (await d.recover()).find((i) => i.taskId === taskId);
    assert.equal(info?.state, 'running');
    assert.equal(info.pid, pid);
    await d.stop(taskId, { signal: 'SIGTERM', gracePeriodMs: 10_000 });
    assert.equal((await d.wait(taskId)).exitCode, 42);
  });

  void test('concurrent starts spawn one process', async () => {
    const d = newDriver();
    const t = driverTask({ id: id(), nodeId: NODE, driver: 'exec', container: { command: ['sleep', '1000'] } });
    await d.prepare(t);
    const [a, b] = await Promise.all([d.start(t.id), d.start(t.id)]);
    assert.deepEqual(a, b);
    await d.remove(t.id);
  });
});

void describe('exec driver parsers', () => {
  void test('resolveUser', () => {
    const passwd = 'root:x:0:0:root:/root:/bin/bash\nwww:x:33:33:www:/var/www:/usr/sbin/nologin\n';
    const group = 'root:x:0:\nstaff:x:50:\n';
    assert.deepEqual(resolveUser('www', passwd, group), { uid: 33, gid: 33, home: '/var/www' });
    assert.deepEqual(resolveUser('33', passwd, group), { uid: 33, gid: 33, home: '/var/www' });
    assert.deepEqual(resolveUser('www:staff', passwd, group), { uid: 33, gid: 50, home: '/var/www' });
    assert.deepEqual(resolveUser('4000', passwd, group), { uid: 4000, gid: 0 });
    assert.deepEqual(resolveUser('4000:7', passwd, group), { uid: 4000, gid: 7 });
    assert.throws(() => resolveUser('nosuch', passwd, group), /no user "nosuch"/);
    assert.throws(() => resolveUser('www:nogroup', passwd, group), /no group "nogroup"/);
  });

  void test('parseProcStat handles command names with spaces and parentheses', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 4)).join(' ');
    const st = parseProcStat(`123 (a b) c) S ${fields}`);
    // field 5 (pgrp) = "6"? fields start at field 4 = "4": field N = N.
    assert.deepEqual(st, { state: 'S', pgrp: 5, startTime: 22 });
  });

  void test('parseExit', () => {
    assert.deepEqual(parseExit('3\n'), { exitCode: 3 });
    assert.deepEqual(parseExit('137 killed by SIGKILL\n'), { exitCode: 137, reason: 'killed by SIGKILL' });
    assert.equal(parseExit(''), undefined);
    assert.equal(parseExit('13'), undefined);
  });
});
