/**
 * Rolling updates and rollbacks end to end on a real Docker engine (issue #5): `flotilla dev`
 * driven through the real CLI (`service create|update|rollback` wait and show progress), and
 * the manager's event stream watched throughout to sample how many tasks run at every
 * committed revision.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Service } from '../../src/api/service.ts';
import type { Task } from '../../src/api/task.ts';
import { FlotillaClient } from '../../src/client/client.ts';
import { DevCluster, dockerSkipReason, waitUntil, type CliResult } from './dev-cluster.ts';

const IMAGE = 'flotilla/busybox:test';
const skip = await dockerSkipReason();

/**
 * Follows a service's tasks through the event stream and, after each committed revision,
 * records how many of its tasks run and how many slots are mid-replacement. A slot is
 * mid-replacement when it has no running task of the service's current spec and either its
 * old task was told to stop or its new task exists.
 */
class RolloutWatch {
  readonly #tasks = new Map<string, Task>();
  #specVersion: number;
  #minRunning = Number.POSITIVE_INFINITY;
  #maxInFlight = 0;
  #revision = 0;
  readonly #abort = new AbortController();
  #done: Promise<void> = Promise.resolve();
  readonly #serviceId: string;
  /** Slots seen mid-replacement, in the order they started. */
  readonly replaced: number[] = [];

  private constructor(service: Service) {
    this.#serviceId = service.id;
    this.#specVersion = service.specVersion;
  }

  static async start(client: FlotillaClient, serviceId: string): Promise<RolloutWatch> {
    const since = (await client.info()).revision;
    const w = new RolloutWatch(await client.getService(serviceId));
    for (const t of await client.listTasks({ service: serviceId })) w.#tasks.set(t.id, t);
    w.#sample();
    const events = client.events({ since, kinds: ['service', 'task'], signal: w.#abort.signal });
    w.#done = (async () => {
      for await (const ev of events) {
        if (ev.revision !== w.#revision) w.#sample();
        w.#revision = ev.revision;
        if (ev.kind === 'service' && ev.object.id === serviceId) w.#specVersion = ev.object.specVersion;
        if (ev.kind === 'task' && ev.object.serviceId === serviceId) {
          if (ev.action === 'delete') w.#tasks.delete(ev.object.id);
          else w.#tasks.set(ev.object.id, ev.object);
        }
      }
    })().catch((err: unknown) => {
      if (!w.#abort.signal.aborted) throw err;
    });
    return w;
  }

  #sample(): void {
    const tasks = [...this.#tasks.values()].filter((t) => t.serviceId === this.#serviceId);
    this.#minRunning = Math.min(this.#minRunning, tasks.filter((t) => t.status.state === 'running').length);
    const slots = new Set(tasks.map((t) => t.slot ?? 0));
    let inFlight = 0;
    for (const slot of slots) {
      const mine = tasks.filter((t) => t.slot === slot);
      const current = mine.filter((t) => t.specVersion === this.#specVersion);
      const done = current.some((t) => t.status.state === 'running' && t.desiredState === 'running');
      const untouched = mine.some((t) => t.specVersion !== this.#specVersion && t.desiredState === 'running');
      if (!done && (!untouched || current.length > 0)) {
        inFlight++;
        if (!this.replaced.includes(slot)) this.replaced.push(slot);
      }
    }
    this.#maxInFlight = Math.max(this.#maxInFlight, inFlight);
  }

  /** Stops following and returns what was seen (the last revision is sampled too). */
  async stop(): Promise<{ minRunning: number; maxInFlight: number }> {
    this.#sample();
    this.#abort.abort();
    await this.#done;
    return { minRunning: this.#minRunning, maxInFlight: this.#maxInFlight };
  }
}

function ok(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what} failed (${r.code}):\n${r.stderr}`);
}

describe('rolling updates on a real Docker engine', { skip }, () => {
  let c: DevCluster;
  let client: FlotillaClient;

  before(async () => {
    c = await DevCluster.start(['--driver', 'docker']);
    client = new FlotillaClient({ socketPath: join(c.home, 'flotilla.sock') });
  });
  after(async () => {
    await c?.destroy();
  });

  const live = async (name: string): Promise<Task[]> => (await client.listTasks({ service: name })).filter((t) => t.desiredState === 'running');

  it('stop-first keeps all but one task running, start-first keeps all of them, one slot at a time', async (t) => {
    // busybox sleep as PID 1 ignores SIGTERM: a short grace period keeps each stop at 1 s.
    const create = await c.cli('service', 'create', '--name', 'web', '--replicas', '4', '--stop-grace-period', '1s', '--timeout', '5m', IMAGE, 'sleep', '3600');
    ok(create, 'service create');
    assert.match(create.stderr, /overall progress: 4 out of 4 tasks/);
    assert.match(create.stderr, /verify: Service converged/);
    const v1 = await client.getService('web');

    let watch = await RolloutWatch.start(client, v1.id);
    const stopFirst = await c.cli(
      'service', 'update', '--env-add', 'V=2', '--update-parallelism', '1', '--update-delay', '2s', '--update-order', 'stop-first',
      '--update-monitor', '1s', '--timeout', '5m', 'web',
    );
    ok(stopFirst, 'service update (stop-first)');
    assert.match(stopFirst.stderr, /verify: Service converged/);
    let seen = await watch.stop();
    t.diagnostic(`stop-first: at least ${seen.minRunning} of 4 running at every revision, at most ${seen.maxInFlight} slot in flight`);
    assert.ok(seen.minRunning >= 3, `never fewer than 3 running during stop-first (saw ${seen.minRunning})`);
    assert.equal(seen.maxInFlight, 1, 'one slot replaced at a time');
    assert.equal(watch.replaced.length, 4, `every slot was replaced: ${watch.replaced.join(',')}`);
    const v2 = await client.getService('web');
    assert.equal(v2.specVersion, v1.specVersion + 1);
    assert.equal(v2.updateStatus?.state, 'completed');
    let tasks = await live('web');
    assert.equal(tasks.length, 4);
    for (const task of tasks) {
      assert.equal(task.specVersion, v2.specVersion);
      assert.equal(task.status.state, 'running');
      assert.ok(task.spec.container.env.includes('V=2'));
    }
    const ps = await c.cli('service', 'ps', 'web');
    assert.match(ps.stdout, / \\_ web\.1 /, `service ps shows the replaced task as history:\n${ps.stdout}`);

    watch = await RolloutWatch.start(client, v1.id);
    const startFirst = await c.cli(
      'service', 'update', '--env-add', 'V=3', '--update-order', 'start-first', '--update-monitor', '1s', '--timeout', '5m', 'web',
    );
    ok(startFirst, 'service update (start-first)');
    seen = await watch.stop();
    t.diagnostic(`start-first: at least ${seen.minRunning} of 4 running at every revision, at most ${seen.maxInFlight} slot in flight`);
    assert.ok(seen.minRunning >= 4, `never fewer than 4 running during start-first (saw ${seen.minRunning})`);
    assert.equal(seen.maxInFlight, 1, 'one slot replaced at a time');
    assert.equal(watch.replaced.length, 4);
    tasks = await live('web');
    assert.equal(tasks.length, 4);
    for (const task of tasks) assert.ok(task.spec.container.env.includes('V=3'));
    ok(await c.cli('service', 'rm', 'web'), 'service rm');
  });

  it('an update whose tasks exit at once rolls itself back to the previous spec', async () => {
    ok(await c.cli('service', 'create', '--name', 'crashy', '--replicas', '2', '--stop-grace-period', '1s', '--timeout', '5m', IMAGE, 'sleep', '3600'), 'service create');
    const before = await client.getService('crashy');
    const r = await c.cli(
      'service', 'update', '--args', 'sh -c "exit 3"', '--update-failure-action', 'rollback', '--update-monitor', '3s',
      '--rollback-monitor', '1s', '--timeout', '5m', 'crashy',
    );
    assert.equal(r.code, 1, `the update fails:\n${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /flotilla: update rolled back/);

    await waitUntil(async () => {
      const s = await client.getService('crashy');
      if (s.updateStatus?.state !== 'rollback_completed') return false;
      const tasks = await live('crashy');
      return tasks.length === 2 && tasks.every((t) => t.specVersion === s.specVersion && t.status.state === 'running');
    }, 120_000, 'the rollback to complete with both replicas running');
    const s = await client.getService('crashy');
    assert.ok(s.updateStatus?.message, 'the rollback says why');
    assert.deepEqual(s.spec.taskTemplate.container.args, ['sleep', '3600'], 'the spec is the previous one again');
    assert.deepEqual(s.spec.taskTemplate, before.spec.taskTemplate);
    for (const t of await live('crashy')) assert.deepEqual(t.spec.container.args, ['sleep', '3600']);
    ok(await c.cli('service', 'rm', 'crashy'), 'service rm');
  });

  it('service rollback restores the previous spec, and a second rollback the newer one', async () => {
    ok(await c.cli('service', 'create', '--name', 'rb', '--replicas', '2', '-e', 'V=1', '--stop-grace-period', '1s', '--update-monitor', '1s', '--rollback-monitor', '1s', '--timeout', '5m', IMAGE, 'sleep', '3600'), 'service create');
    const noPrevious = await c.cli('service', 'rollback', 'rb');
    assert.equal(noPrevious.code, 1, 'nothing to roll back to yet');
    assert.equal(noPrevious.stderr.trim().split('\n').length, 1, `one line: ${noPrevious.stderr}`);

    ok(await c.cli('service', 'update', '--env-add', 'V=2', '--timeout', '5m', 'rb'), 'service update');
    const envOfTasks = async (): Promise<string[][]> => (await live('rb')).map((t) => t.spec.container.env);

    const back = await c.cli('service', 'rollback', '--timeout', '5m', 'rb');
    ok(back, 'service rollback');
    assert.match(back.stderr, /verify: Service converged/);
    let s = await client.getService('rb');
    assert.deepEqual(s.spec.taskTemplate.container.env, ['V=1']);
    assert.equal(s.updateStatus?.state, 'rollback_completed');
    assert.deepEqual(await envOfTasks(), [['V=1'], ['V=1']]);

    ok(await c.cli('service', 'rollback', '--timeout', '5m', 'rb'), 'second service rollback');
    s = await client.getService('rb');
    assert.deepEqual(s.spec.taskTemplate.container.env, ['V=2']);
    assert.deepEqual(await envOfTasks(), [['V=2'], ['V=2']]);
    const inspect = JSON.parse((await c.cli('service', 'inspect', 'rb')).stdout) as Service[];
    assert.equal(inspect[0]?.updateStatus?.state, 'rollback_completed', 'service inspect shows updateStatus');
    ok(await c.cli('service', 'rm', 'rb'), 'service rm');
  });

  it('an update to a health check that never passes does not complete and is rolled back', async () => {
    ok(await c.cli('service', 'create', '--name', 'sick', '--replicas', '2', '--stop-grace-period', '1s', '--timeout', '5m', IMAGE, 'sleep', '3600'), 'service create');
    const r = await c.cli(
      'service', 'update', '--health-cmd', 'exit 1', '--health-interval', '500ms', '--health-retries', '1', '--health-timeout', '1s',
      '--update-failure-action', 'rollback', '--update-monitor', '5s', '--timeout', '5m', 'sick',
    );
    assert.equal(r.code, 1, `the update fails:\n${r.stderr}`);
    assert.match(r.stderr, /flotilla: update rolled back/);
    await waitUntil(async () => (await client.getService('sick')).updateStatus?.state === 'rollback_completed', 60_000, 'the rollback to complete');
    const s = await client.getService('sick');
    assert.equal(s.spec.taskTemplate.container.healthcheck, undefined, 'the spec without the failing check is back');
    ok(await c.cli('service', 'rm', 'sick'), 'service rm');
  });
});
