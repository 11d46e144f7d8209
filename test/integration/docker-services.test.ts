/**
 * End to end on a real Docker engine: `flotilla dev` runs services through the real CLI, and
 * `docker` shows the containers. These are the foundation's acceptance scenarios.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DevCluster, docker, dockerSkipReason, waitUntil, type TaskJson } from './dev-cluster.ts';

const IMAGE = 'flotilla/busybox:test';
const skip = await dockerSkipReason();

async function running(c: DevCluster, service: string): Promise<TaskJson[]> {
  const tasks = await c.json<TaskJson[]>('service', 'ps', service);
  return tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');
}

async function containersOf(service: string, nodeId: string): Promise<string[]> {
  const out = await docker('ps', '-q', '--no-trunc', '--filter', `label=flotilla.service.name=${service}`, '--filter', `label=flotilla.node.id=${nodeId}`);
  return out.split(/\s+/).filter(Boolean);
}

describe('services on a real Docker engine', { skip }, () => {
  let c: DevCluster;
  let nodeId: string;

  before(async () => {
    c = await DevCluster.start(['--driver', 'docker']);
    const nodes = await c.json<Array<{ id: string }>>('node', 'ls');
    assert.equal(nodes.length, 1);
    nodeId = nodes[0]!.id;
  });
  after(async () => {
    await c?.destroy();
  });

  it('runs 3 replicas, replaces a killed container, scales, and removes everything', async () => {
    const created = await c.cli('service', 'create', '--name', 'web', '--replicas', '3', IMAGE, 'httpd', '-f', '-p', '8080');
    assert.equal(created.code, 0, created.stderr);

    await waitUntil(async () => (await running(c, 'web')).length === 3, 60_000, '3 running tasks of web');
    const tasks = await running(c, 'web');
    assert.deepEqual(tasks.map((t) => t.slot).sort(), [1, 2, 3]);
    const containers = await containersOf('web', nodeId);
    assert.equal(containers.length, 3);
    for (const t of tasks) assert.ok(containers.includes(t.status.containerId!), `container of task ${t.id} is running`);

    // Killing a container: a new task replaces it in the same slot within 10 s.
    const victim = tasks[0]!;
    await docker('kill', victim.status.containerId!);
    await waitUntil(async () => {
      const now = await running(c, 'web');
      return now.length === 3 && !now.some((t) => t.id === victim.id);
    }, 120_000, 'a replacement for the killed task');
    const replacement = (await running(c, 'web')).find((t) => t.slot === victim.slot);
    assert.ok(replacement, 'the replacement runs in the same slot');
    const history = (await c.json<TaskJson[]>('service', 'ps', 'web')).find((t) => t.id === victim.id);
    assert.equal(history?.desiredState, 'shutdown');
    assert.equal(history?.status.state, 'failed');

    assert.equal((await c.cli('service', 'scale', 'web=5')).code, 0);
    await waitUntil(async () => (await running(c, 'web')).length === 5, 60_000, '5 running tasks after scale');
    assert.equal((await containersOf('web', nodeId)).length, 5);

    assert.equal((await c.cli('service', 'rm', 'web')).code, 0);
    await waitUntil(async () => {
      const all = await docker('ps', '-aq', '--filter', 'label=flotilla.service.name=web', '--filter', `label=flotilla.node.id=${nodeId}`);
      return all.trim() === '';
    }, 120_000, 'no container of web left');
    assert.equal((await c.cli('service', 'inspect', 'web')).code === 0, false, 'web is gone');
  });

  it('adopts running containers when flotilla dev restarts', async () => {
    assert.equal((await c.cli('service', 'create', '--name', 'keep', '--replicas', '2', IMAGE, 'sleep', '3600')).code, 0);
    await waitUntil(async () => (await running(c, 'keep')).length === 2, 60_000, '2 running tasks of keep');
    const before = await running(c, 'keep');
    const started = async (ids: string[]): Promise<string[]> => (await docker('inspect', '--format', '{{.Id}} {{.State.StartedAt}}', ...ids)).trim().split('\n').sort();
    const startedAt = await started(before.map((t) => t.status.containerId!));

    assert.equal(await c.stopProcess(), 0, `flotilla dev exits cleanly on SIGTERM:\n${c.log.slice(-2000)}`);
    assert.equal((await containersOf('keep', nodeId)).length, 2, 'containers keep running while Flotilla is down');
    await c.startProcess();

    await waitUntil(async () => (await running(c, 'keep')).length === 2, 60_000, 'keep running again after restart');
    const after = await running(c, 'keep');
    assert.deepEqual(after.map((t) => t.id).sort(), before.map((t) => t.id).sort(), 'same tasks');
    assert.deepEqual(after.map((t) => t.status.containerId).sort(), before.map((t) => t.status.containerId).sort(), 'same containers');
    assert.deepEqual(await started(after.map((t) => t.status.containerId!)), startedAt, 'no container was restarted');
    assert.equal((await containersOf('keep', nodeId)).length, 2);
    assert.equal((await c.cli('service', 'rm', 'keep')).code, 0);
  });

  it('runs a global service on the node, and drain stops it until the node is active again', async () => {
    assert.equal((await c.cli('service', 'create', '--name', 'agentd', '--mode', 'global', IMAGE, 'sleep', '3600')).code, 0);
    await waitUntil(async () => (await running(c, 'agentd')).length === 1, 60_000, 'the global task running');
    assert.equal((await running(c, 'agentd'))[0]!.nodeId, nodeId);

    assert.equal((await c.cli('node', 'update', '--availability', 'drain', nodeId)).code, 0);
    await waitUntil(async () => (await containersOf('agentd', nodeId)).length === 0, 60_000, 'the drained node to stop its task');
    assert.equal((await running(c, 'agentd')).length, 0);

    assert.equal((await c.cli('node', 'update', '--availability', 'active', nodeId)).code, 0);
    await waitUntil(async () => (await running(c, 'agentd')).length === 1, 60_000, 'the global task back on the active node');
    assert.equal((await containersOf('agentd', nodeId)).length, 1);
    assert.equal((await c.cli('service', 'rm', 'agentd')).code, 0);
  });

  it('rejects a task whose image cannot be found, with the engine reason, and backs off', async () => {
    const created = await c.cli('service', 'create', '-d', '--name', 'ghost', '--restart-delay', '500ms', 'localhost:1/flotilla/no-such-image:1', 'true');
    assert.equal(created.code, 0, created.stderr);
    const rejectedTasks = async (): Promise<Array<TaskJson & { createdAt: string }>> =>
      (await c.json<Array<TaskJson & { createdAt: string }>>('service', 'ps', 'ghost')).filter((t) => t.status.state === 'rejected');
    await waitUntil(async () => (await rejectedTasks()).length >= 4, 60_000, 'four rejected tasks of ghost');
    const rejected = (await rejectedTasks()).sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
    assert.match(rejected[0]!.status.err ?? '', /no-such-image/i, 'the engine reason names the image');
    // Backoff: each replacement waits longer than the one before (500 ms, 1 s, 2 s …). A gap is
    // the delay plus the attempt itself, which a loaded machine stretches: only lower bounds hold.
    const gaps = rejected.slice(1).map((t, i) => Date.parse(t.createdAt) - Date.parse(rejected[i]!.createdAt));
    gaps.slice(0, 3).forEach((g, i) => assert.ok(g >= 500 * 2 ** i - 100, `attempt ${i + 2} waited at least ${500 * 2 ** i} ms: ${gaps.join(', ')} ms`));
    const ps = await c.cli('service', 'ps', 'ghost');
    assert.match(ps.stdout, /rejected/i);
    assert.equal((await c.cli('service', 'rm', 'ghost')).code, 0);
  });
});
