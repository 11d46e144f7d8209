import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskStatus } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import { FakeHost } from '../drivers/fake/fake-host.ts';
import { Worker } from '../worker.ts';
import { filesHook } from './hook.ts';
import { planFiles } from './layout.ts';
import { TaskFiles } from './task-files.ts';
import type { TaskFileSystem } from './task-fs.ts';

const PLAINTEXT = 'agent-side-secret-91c2';

/** An in-memory stand-in for tmpfs mounts: what is mounted and what each file holds. */
class MemoryFs implements TaskFileSystem {
  readonly mounts = new Set<string>();
  readonly files = new Map<string, { data: string; uid: number; gid: number; mode: number }>();
  async mount(dir: string): Promise<void> {
    this.mounts.add(dir);
  }
  async write(path: string, data: Uint8Array, owner: { uid: number; gid: number; mode: number }): Promise<void> {
    if (![...this.mounts].some((m) => path.startsWith(`${m}/`))) throw new Error(`${path} is not on a mounted tmpfs`);
    this.files.set(path, { data: Buffer.from(data).toString(), ...owner });
  }
  async unmount(dir: string): Promise<void> {
    this.mounts.delete(dir);
    for (const p of [...this.files.keys()]) if (p.startsWith(`${dir}/`)) this.files.delete(p);
  }
}

function taskUsing(id: string, secrets: Array<Record<string, unknown>>, configs: Array<Record<string, unknown>> = []): Task {
  const base = makeTask({ id, nodeId: 'n1', status: { state: 'assigned' } });
  return { ...base, spec: { ...base.spec, driver: 'fake', container: { ...base.spec.container, secrets, configs } } } as Task;
}

const secretRef = { id: 'sec1', name: 'db_pw', uid: '1000', gid: '1000', mode: 0o400 };
const configRef = { id: 'cfg1', name: 'app.conf', target: '/etc/app.conf', uid: '0', gid: '0', mode: 0o444 };
const files = [
  { id: 'sec1', kind: 'secret' as const, data: Buffer.from(PLAINTEXT).toString('base64') },
  { id: 'cfg1', kind: 'config' as const, data: Buffer.from('x=1').toString('base64') },
];

async function until(pred: () => boolean, what: string, clock: FakeClock): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await clock.advance(0);
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('agent task files (fake driver)', () => {
  function setup(): { clock: FakeClock; host: FakeHost; fs: MemoryFs; tf: TaskFiles; worker: Worker; reports: Array<[string, TaskStatus]> } {
    const clock = new FakeClock();
    const host = new FakeHost();
    const fs = new MemoryFs();
    const tf = new TaskFiles({ fs, logger: silentLogger }, () => '/run/flotilla/n1');
    const reports: Array<[string, TaskStatus]> = [];
    const driver = new FakeDriver({ nodeId: 'n1', clock, host });
    const worker = new Worker({ clock, logger: silentLogger, drivers: new Map([['fake', driver]]), report: (id, s) => reports.push([id, s]), files: tf, hooks: [filesHook(tf)] });
    return { clock, host, fs, tf, worker, reports };
  }

  it('mounts the files of a task with owner and mode, gives the driver their binds, and unmounts on removal', async () => {
    const { clock, host, fs, tf, worker, reports } = setup();
    worker.apply({ type: 'assignments', full: true, tasks: [taskUsing('t1', [secretRef], [configRef])], removed: [], files });
    await until(() => reports.some(([id, s]) => id === 't1' && s.state === 'running'), 't1 running', clock);
    const dir = '/run/flotilla/n1/tasks/t1';
    assert.ok(fs.mounts.has(dir));
    assert.deepEqual(fs.files.get(`${dir}/secrets/db_pw`), { data: PLAINTEXT, uid: 1000, gid: 1000, mode: 0o400 });
    assert.deepEqual(fs.files.get(`${dir}/configs/app.conf`), { data: 'x=1', uid: 0, gid: 0, mode: 0o444 });
    assert.deepEqual(host.processes.get('t1')?.task.fileMounts, [
      { hostPath: `${dir}/secrets/db_pw`, target: '/run/secrets/db_pw' },
      { hostPath: `${dir}/configs/app.conf`, target: '/etc/app.conf' },
    ]);
    assert.deepEqual(tf.held.sort(), ['cfg1', 'sec1'], 'held in memory while the task is assigned');

    worker.apply({ type: 'assignments', full: false, tasks: [], removed: ['t1'] });
    await worker.settled();
    assert.equal(fs.mounts.size, 0, 'unmounted');
    assert.equal(fs.files.size, 0);
    assert.deepEqual(tf.held, [], 'forgotten once no task uses them');
  });

  it('rejects a task whose secret was not received, and mounts nothing', async () => {
    const { clock, fs, worker, reports } = setup();
    worker.apply({ type: 'assignments', full: true, tasks: [taskUsing('t2', [secretRef])], removed: [] });
    await until(() => reports.some(([id, s]) => id === 't2' && s.state === 'rejected'), 't2 rejected', clock);
    const rejected = reports.find(([, s]) => s.state === 'rejected')?.[1];
    assert.match(rejected?.err ?? '', /secret db_pw not received from the manager/);
    assert.ok(!JSON.stringify(reports).includes(PLAINTEXT));
    assert.equal(fs.mounts.size, 0);
  });

  it('planFiles: targets, relative secret targets, bad uid, .. and duplicates', () => {
    const plan = planFiles(taskUsing('t', [{ ...secretRef, target: 'pw' }, { ...secretRef, id: 's2', name: 'abs', target: '/etc/abs' }], [{ ...configRef, target: undefined }]));
    assert.ok(plan.ok);
    assert.deepEqual(plan.files.map((f) => [f.relPath, f.target]), [['secrets/pw', '/run/secrets/pw'], ['secrets/abs', '/etc/abs'], ['configs/app.conf', '/app.conf']]);
    const badUid = planFiles(taskUsing('t', [{ ...secretRef, uid: 'www' }]));
    assert.ok(!badUid.ok && /uid and gid must be numeric/.test(badUid.error));
    const dotdot = planFiles(taskUsing('t', [{ ...secretRef, target: '../etc/passwd' }]));
    assert.ok(!dotdot.ok && /not a file path/.test(dotdot.error));
    const dup = planFiles(taskUsing('t', [secretRef, { ...secretRef, id: 's2', name: 'other', target: 'db_pw' }]));
    assert.ok(!dup.ok && /used twice/.test(dup.error));
  });
});
