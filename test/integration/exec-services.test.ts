/**
 * End to end with the exec driver (plain host processes), and the CLI's handling of bad
 * input. Needs no Docker engine.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DevCluster, waitUntil, type TaskJson } from './dev-cluster.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('exec driver services through flotilla dev', () => {
  let c: DevCluster;
  const running = async (service: string): Promise<TaskJson[]> =>
    (await c.json<TaskJson[]>('service', 'ps', service)).filter((t) => t.desiredState === 'running' && t.status.state === 'running');

  before(async () => {
    c = await DevCluster.start(['--driver', 'exec']);
  });
  after(async () => {
    const tasks = await c.json<TaskJson[]>('service', 'ps', 'sleeper').catch(() => []);
    await c.destroy();
    for (const t of tasks) if (t.status.pid && alive(t.status.pid)) process.kill(-t.status.pid, 'SIGKILL');
  });

  it('runs, replaces, scales, survives a restart, and removes plain processes', async () => {
    const created = await c.cli('service', 'create', '--name', 'sleeper', '--replicas', '2', '--driver', 'exec', 'sleep', '3600');
    assert.equal(created.code, 0, created.stderr);
    await waitUntil(async () => (await running('sleeper')).length === 2, 60_000, '2 running exec tasks');
    const tasks = await running('sleeper');
    for (const t of tasks) assert.ok(t.status.pid && alive(t.status.pid), `task ${t.id} has a live process`);

    const victim = tasks[0]!;
    process.kill(victim.status.pid!, 'SIGKILL');
    await waitUntil(async () => {
      const now = await running('sleeper');
      return now.length === 2 && !now.some((t) => t.id === victim.id);
    }, 120_000, 'a replacement for the killed process');

    assert.equal((await c.cli('service', 'scale', 'sleeper=3')).code, 0);
    await waitUntil(async () => (await running('sleeper')).length === 3, 60_000, '3 running after scale');
    const before = await running('sleeper');

    assert.equal(await c.stopProcess(), 0, 'flotilla dev exits cleanly on SIGTERM');
    for (const t of before) assert.ok(alive(t.status.pid!), 'processes outlive flotilla dev');
    await c.startProcess();
    await waitUntil(async () => (await running('sleeper')).length === 3, 60_000, 'sleeper adopted after restart');
    const afterRestart = await running('sleeper');
    assert.deepEqual(afterRestart.map((t) => t.status.pid).sort(), before.map((t) => t.status.pid).sort(), 'same processes');

    assert.equal((await c.cli('service', 'rm', 'sleeper')).code, 0);
    await waitUntil(() => before.every((t) => !alive(t.status.pid!)), 60_000, 'every process of sleeper gone');
  });

  it('rejects bad input with a one-line error and creates nothing', async () => {
    const cases: Array<{ args: string[]; says: RegExp }> = [
      { args: ['--name', 'bad1', '--replicas', '-1', '--driver', 'exec', 'true'], says: /replicas/i },
      { args: ['--name', 'bad2', '--no-such-flag', '--driver', 'exec', 'true'], says: /no-such-flag/ },
      { args: ['--name', 'bad3', '--constraint', 'node.labels.zone=east', '--driver', 'exec', 'true'], says: /constraint/i },
      { args: ['--name', 'bad4', '--limit-memory', 'lots', '--driver', 'exec', 'true'], says: /memory|lots/i },
      { args: ['--name', 'bad5', '--publish', 'mode=host,published=99999,target=80', '--driver', 'exec', 'true'], says: /publish|port|99999/i },
    ];
    for (const { args, says } of cases) {
      const r = await c.cli('service', 'create', ...args);
      assert.notEqual(r.code, 0, `service create ${args.join(' ')} must fail`);
      assert.match(r.stderr, says, `error for ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    }
    assert.deepEqual(await c.json<unknown[]>('service', 'ls'), [], 'nothing was created');

    assert.equal((await c.cli('service', 'create', '--name', 'taken', '--replicas', '0', '--driver', 'exec', 'true')).code, 0);
    const dup = await c.cli('service', 'create', '--name', 'taken', '--driver', 'exec', 'true');
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /taken|exists/i);
    assert.equal((await c.json<unknown[]>('service', 'ls')).length, 1, 'the taken name created nothing');
    assert.equal((await c.cli('service', 'rm', 'taken')).code, 0);
  });
});
