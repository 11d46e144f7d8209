import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Task } from '../api/task.ts';
import { FlotillaClient } from '../client/client.ts';
import { silentLogger } from '../lib/logger.ts';
import type { CliIo } from './context.ts';
import { parseListen, runDev } from './dev.ts';
import { isUsageError } from './parse.ts';

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

/** Starts `flotilla dev` in-process; resolves once it said its node is ready. */
async function startDev(dataDir: string): Promise<{ stop: () => Promise<void>; output: () => string }> {
  let out = '';
  let onLine: (() => void) | undefined;
  const io: CliIo = {
    stdout: { write: (s: string) => (out += s) },
    stderr: {
      write: (s: string) => {
        out += s;
        onLine?.();
        return true;
      },
    },
    env: {},
    now: () => Date.now(),
  };
  const ac = new AbortController();
  const ready = new Promise<void>((resolve) => {
    onLine = () => {
      if (out.includes(' ready;')) resolve();
    };
  });
  // No metrics port: the default (127.0.0.1:4281) is one fixed port for every test process.
  const running = runDev({ dataDir, driver: 'exec', networking: false, metricsAddr: 'off' }, io, ac.signal, { logger: silentLogger });
  await within(Promise.race([ready, running.then(() => Promise.reject(new Error(`dev ended early: ${out}`)))]), 60_000, 'dev to be ready');
  if (/metrics/.test(out)) {
    ac.abort();
    await within(running, 60_000, 'dev to stop');
    assert.fail(`a metrics port was tried: ${out}`);
  }
  return {
    stop: async () => {
      ac.abort();
      await within(running, 60_000, 'dev to stop');
    },
    output: () => out,
  };
}

/** Waits until the task list of `service` satisfies `pred`, following the event stream. */
async function waitTasks(client: FlotillaClient, service: string, pred: (tasks: Task[]) => boolean, what: string): Promise<Task[]> {
  const ac = new AbortController();
  const check = async (): Promise<Task[] | undefined> => {
    // A removed service's tasks go with it: then the list is empty.
    const tasks = await client.listTasks({ service }).catch((e: unknown) => {
      if ((e as { code?: string }).code === 'not_found') return [];
      throw e;
    });
    return pred(tasks) ? tasks : undefined;
  };
  try {
    return await within(
      (async () => {
        const events = client.events({ kinds: ['task'], signal: ac.signal });
        const first = events.next();
        const now = await check();
        if (now) return now;
        for (let r = await first; !r.done; r = await events.next()) {
          const got = await check();
          if (got) return got;
        }
        throw new Error('event stream ended');
      })(),
      15_000,
      what,
    );
  } finally {
    ac.abort();
  }
}

describe('flotilla dev', () => {
  it('parses --listen', () => {
    assert.deepEqual(parseListen('127.0.0.1:7420'), { host: '127.0.0.1', port: 7420 });
    assert.deepEqual(parseListen(':7420'), { host: '127.0.0.1', port: 7420 });
    assert.deepEqual(parseListen('[::1]:7420'), { host: '::1', port: 7420 });
    assert.throws(() => parseListen('nope'));
  });

  it('a --driver that cannot run here is a usage error, before anything starts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-dev-'));
    try {
      const io: CliIo = { stdout: { write: () => true }, stderr: { write: () => true }, env: { DOCKER_HOST: `unix://${join(dir, 'none.sock')}` }, now: () => Date.now() };
      await assert.rejects(runDev({ dataDir: dir, driver: 'docker', networking: false, metricsAddr: 'off' }, io, new AbortController().signal, { logger: silentLogger }), (e: unknown) => {
        assert.ok(isUsageError(e), String(e));
        assert.match(e.message, /^the docker driver cannot run here: /);
        return true;
      });
      await assert.rejects(stat(join(dir, 'flotilla.sock')), /ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs a service end to end, and a restart adopts its running task', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-dev-'));
    let dev: Awaited<ReturnType<typeof startDev>> | undefined;
    try {
      dev = await startDev(dir);
      assert.match(dev.output(), /driver: exec, as asked/);
      const sock = join(dir, 'flotilla.sock');
      assert.equal((await stat(sock)).mode & 0o777, 0o600);
      const client = new FlotillaClient({ socketPath: sock });
      await client.createService({ name: 'sleeper', taskTemplate: { driver: 'exec', container: { command: ['sleep', '300'] } } });
      const [task] = await waitTasks(client, 'sleeper', (ts) => ts.some((t) => t.status.state === 'running'), 'the task to run');
      assert.ok(task);
      await dev.stop();
      await assert.rejects(client.info(), (e) => (e as { code?: string }).code === 'unreachable');

      dev = await startDev(dir);
      const after = await client.listTasks({ service: 'sleeper', desiredState: 'running' });
      assert.deepEqual(after.map((t) => t.id), [task.id], 'the same task, not a replacement');
      await client.removeService('sleeper');
      await waitTasks(client, task.serviceId, (ts) => ts.every((t) => t.status.state !== 'running'), 'the task to stop');
    } finally {
      await dev?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
