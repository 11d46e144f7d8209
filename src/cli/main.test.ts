import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { makeNode } from '../testing/fixtures.ts';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { run } from './main.ts';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('flotilla CLI against a live API', () => {
  let h: ApiHarness;
  let now: number;
  const cli = async (...argv: string[]): Promise<Result> => {
    let stdout = '';
    let stderr = '';
    const code = await run(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { FLOTILLA_HOST: `unix://${h.socketPath}` },
      now: () => now,
    });
    return { code, stdout, stderr };
  };

  beforeEach(async () => {
    h = await startApi({ listen: true });
    now = h.clock.now();
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates a service and prints its id; ls and inspect show it', async () => {
    const r = await cli('service', 'create', '-d', '--name', 'web', '--replicas', '2', '-e', 'A=1', 'flotilla/busybox:test', 'sleep', '3600');
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    const stored = h.store.services.get(id);
    assert.ok(stored);
    assert.deepEqual(stored.spec.taskTemplate.container.args, ['sleep', '3600']);
    assert.deepEqual(stored.spec.taskTemplate.container.env, ['A=1']);

    const ls = await cli('service', 'ls');
    assert.equal(ls.stdout, `ID             NAME   MODE         REPLICAS   IMAGE                   PORTS\n${id.slice(0, 12)}   web    replicated   0/2        flotilla/busybox:test\n`);
    const json = await cli('service', 'ls', '--format', 'json');
    assert.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify([stored])));
    const inspect = await cli('service', 'inspect', 'web');
    assert.deepEqual(JSON.parse(inspect.stdout), JSON.parse(JSON.stringify([stored])));
  });

  it('passes the server’s message through for bad values and creates nothing', async () => {
    const neg = await cli('service', 'create', '--name', 'web', '--replicas', '-1', 'img');
    assert.equal(neg.code, 1);
    assert.equal(neg.stderr, 'flotilla: invalid service spec: replicas: Expected integer to be greater or equal to 0, got -1\n');
    const bad = await cli('service', 'create', '--name', 'web', '--constraint', 'zone=eu', 'img');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^flotilla: invalid service spec: taskTemplate\.placement\.constraints\[0\]: malformed constraint/);
    const flag = await cli('service', 'create', '--name', 'web', '--replica', '2', 'img');
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^flotilla: unknown option '--replica'/);
    const pub = await cli('service', 'create', '--name', 'web', '--publish', 'nonsense', 'img');
    assert.equal(pub.code, 2);
    assert.match(pub.stderr, /^flotilla: invalid --publish "nonsense"/);
    assert.equal(h.store.services.all().length, 0);
  });

  it('flags after the image belong to the command', async () => {
    const r = await cli('service', 'create', '-d', '--name', 'x', 'img', 'ls', '-la', '--name', 'y');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(h.store.services.byName('x')?.spec.taskTemplate.container.args, ['ls', '-la', '--name', 'y']);
  });

  it('scales and removes several services, reporting each failure and failing at the end', async () => {
    await cli('service', 'create', '-d', '--name', 'a', 'img');
    await cli('service', 'create', '-d', '--name', 'b', 'img');
    const scale = await cli('service', 'scale', '-d', 'a=3', 'nope=1', 'b=0');
    assert.equal(scale.code, 1);
    assert.equal(scale.stdout, 'a scaled to 3\nb scaled to 0\n');
    assert.equal(scale.stderr, 'flotilla: service nope not found\n');
    assert.equal(h.store.services.byName('a')?.spec.replicas, 3);
    const rm = await cli('service', 'rm', 'a', 'b');
    assert.equal(rm.code, 0);
    assert.equal(h.store.services.all().length, 0);
  });

  it('shows tasks docker-style in service ps', async () => {
    const node = makeNode({ description: { hostname: 'alpha' } });
    const { version: _v, createdAt: _c, updatedAt: _u, ...n } = node;
    await h.store.update((tx) => {
      tx.nodes.create(n);
    });
    const created = await cli('service', 'create', '-d', '--name', 'web', 'flotilla/busybox:test');
    const svc = h.store.services.get(created.stdout.trim())!;
    await h.store.update((tx) => {
      tx.tasks.create({
        id: 'task1aaaaaaaaaaaaaaaaaaaa',
        serviceId: svc.id,
        serviceName: 'web',
        slot: 1,
        nodeId: node.id,
        specVersion: 1,
        spec: svc.spec.taskTemplate,
        ports: [],
        desiredState: 'running',
        status: { state: 'running', timestamp: new Date(now).toISOString(), message: '' },
      });
    });
    now += 120_000;
    const ps = await cli('service', 'ps', 'web');
    assert.equal(ps.code, 0, ps.stderr);
    assert.equal(
      ps.stdout,
      'ID             NAME    IMAGE                   NODE    DESIRED STATE   CURRENT STATE           ERROR   PORTS\n' +
        'task1aaaaaaa   web.1   flotilla/busybox:test   alpha   Running         Running 2 minutes ago\n',
    );
    const json = await cli('service', 'ps', 'web', '--format', 'json');
    assert.equal(JSON.parse(json.stdout)[0].id, 'task1aaaaaaaaaaaaaaaaaaaa');
    const filtered = await cli('service', 'ps', 'web', '--filter', 'desired-state=shutdown', '-q');
    assert.equal(filtered.stdout.trim(), '');
  });

  it('updates nodes', async () => {
    const node = makeNode({ description: { hostname: 'alpha' }, spec: { labels: { old: '1' } } });
    const { version: _v, createdAt: _c, updatedAt: _u, ...n } = node;
    await h.store.update((tx) => {
      tx.nodes.create(n);
    });
    const r = await cli('node', 'update', '--availability', 'drain', '--label-add', 'zone=eu', '--label-rm', 'old', 'alpha');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(h.store.nodes.get(node.id)?.spec, { role: 'worker', availability: 'drain', labels: { zone: 'eu' } });
    const bad = await cli('node', 'update', '--availability', 'sleep', 'alpha');
    assert.equal(bad.code, 2);
    const ls = await cli('node', 'ls');
    assert.match(ls.stdout, /alpha\s+Ready\s+Drain/);
  });

  it('says how to start a manager when none answers', async () => {
    let stderr = '';
    const sock = join(h.dir, 'absent.sock');
    const code = await run(['service', 'ls'], {
      stdout: { write: () => true },
      stderr: { write: (s: string) => (stderr += s) },
      env: { FLOTILLA_HOST: `unix://${sock}` },
      now: () => now,
    });
    assert.equal(code, 1);
    assert.equal(stderr, `flotilla: cannot reach the manager at ${sock}: is \`flotilla dev\` running?\n`);
  });
});
