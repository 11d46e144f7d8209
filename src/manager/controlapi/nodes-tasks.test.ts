import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Node } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { makeNode, makeService, makeTask } from '../../testing/fixtures.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';

function withoutMeta<T extends { version: number; createdAt: string; updatedAt: string }>(o: T): Omit<T, 'version' | 'createdAt' | 'updatedAt'> {
  const { version: _v, createdAt: _c, updatedAt: _u, ...rest } = o;
  return rest;
}

describe('nodes and tasks API', () => {
  let h: ApiHarness;
  let n1: Node;
  let n2: Node;
  let tasks: Task[];
  beforeEach(async () => {
    h = await startApi();
    n1 = makeNode({ description: { hostname: 'alpha' } });
    n2 = makeNode({ description: { hostname: 'beta' }, spec: { labels: { zone: 'eu' } } });
    const svc = makeService({ id: 'svc-web' });
    const api = makeService({ id: 'svc-api', spec: { name: 'api' } });
    tasks = [
      makeTask({ serviceId: svc.id, slot: 1, nodeId: n1.id }),
      makeTask({ serviceId: svc.id, slot: 2, nodeId: n2.id }),
      makeTask({ serviceId: svc.id, slot: 1, nodeId: n1.id, desiredState: 'shutdown' }),
      makeTask({ serviceId: api.id, serviceName: 'api', slot: 1, nodeId: n2.id }),
    ];
    await h.store.update((tx) => {
      tx.nodes.create(withoutMeta(n1));
      tx.nodes.create(withoutMeta(n2));
      tx.services.create(withoutMeta(svc));
      tx.services.create(withoutMeta(api));
      for (const t of tasks) tx.tasks.create(withoutMeta(t));
    });
  });
  afterEach(async () => {
    await h.close();
  });

  const ids = (body: Task[]): string[] => body.map((t) => t.id).sort();

  it('lists and filters tasks by service (id or name), node (id or hostname) and desired state', async () => {
    assert.equal((await h.call('GET', '/v1/tasks')).body.length, 4);
    const web = await h.call('GET', '/v1/tasks?service=web');
    assert.deepEqual(ids(web.body), ids(tasks.slice(0, 3)));
    const running = await h.call('GET', '/v1/tasks?service=svc-web&desiredState=running');
    assert.deepEqual(ids(running.body), ids(tasks.slice(0, 2)));
    const onBeta = await h.call('GET', '/v1/tasks?node=beta');
    assert.deepEqual(ids(onBeta.body), ids([tasks[1]!, tasks[3]!]));
    const both = await h.call('GET', `/v1/tasks?service=web&node=${n1.id}`);
    assert.deepEqual(ids(both.body), ids([tasks[0]!, tasks[2]!]));
    assert.equal((await h.call('GET', '/v1/tasks?service=nope')).status, 404);
    const bad = await h.call('GET', '/v1/tasks?desiredState=sleeping');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.details[0].path, 'desiredState');
  });

  it('lists tasks without their spec when brief, filters still applying', async () => {
    const brief = await h.call('GET', '/v1/tasks?service=web&brief=true');
    assert.equal(brief.status, 200);
    assert.deepEqual(ids(brief.body), ids(tasks.slice(0, 3)));
    const { spec: _spec, ...rest } = JSON.parse(JSON.stringify(h.store.tasks.get(tasks[0]!.id))) as Task;
    assert.deepEqual(brief.body.find((t: Task) => t.id === tasks[0]!.id), rest);
    const full = await h.call('GET', '/v1/tasks?brief=false');
    assert.deepEqual(full.body.find((t: Task) => t.id === tasks[0]!.id), JSON.parse(JSON.stringify(h.store.tasks.get(tasks[0]!.id))));
  });

  it('gets a task by id and by prefix, exactly as stored', async () => {
    const t = tasks[0]!;
    const r = await h.call('GET', `/v1/tasks/${t.id.slice(0, 10)}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, JSON.parse(JSON.stringify(h.store.tasks.get(t.id))));
    assert.equal((await h.call('GET', '/v1/tasks/zzzzzzzz')).status, 404);
  });

  it('lists nodes and gets one by hostname', async () => {
    assert.equal((await h.call('GET', '/v1/nodes')).body.length, 2);
    const r = await h.call('GET', '/v1/nodes/beta');
    assert.equal(r.body.id, n2.id);
  });

  it('updates availability and labels; a bad update changes nothing', async () => {
    const r = await h.call('PATCH', '/v1/nodes/beta', { availability: 'drain', labelsAdd: { disk: 'ssd' }, labelsRemove: ['zone'] });
    assert.equal(r.status, 200);
    assert.equal(r.body.spec.availability, 'drain');
    assert.deepEqual(r.body.spec.labels, { disk: 'ssd' });
    assert.deepEqual(r.body, JSON.parse(JSON.stringify(h.store.nodes.get(n2.id))));

    const rev = h.store.revision;
    const bad = await h.call('PATCH', '/v1/nodes/beta', { availability: 'sleep' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^invalid node update: availability/);
    const unknown = await h.call('PATCH', '/v1/nodes/beta', { color: 'red' });
    assert.equal(unknown.status, 400);
    const stale = await h.call('PATCH', '/v1/nodes/beta', { version: 1, availability: 'active' });
    assert.equal(stale.status, 409);
    assert.equal(h.store.revision, rev);
    assert.equal((await h.call('PATCH', '/v1/nodes/gamma', { availability: 'active' })).status, 404);
  });

  it('reports cluster counts in /v1/info', async () => {
    const r = await h.call('GET', '/v1/info');
    assert.equal(r.body.nodes.total, 2);
    assert.equal(r.body.services, 2);
    assert.equal(r.body.tasks.total, 4);
    assert.equal(r.body.revision, h.store.revision);
  });

  it('serves an OpenAPI document built from the route schemas', async () => {
    const r = await h.call('GET', '/v1/openapi.json');
    assert.equal(r.body.openapi, '3.1.0');
    const post = r.body.paths['/v1/services'].post;
    assert.deepEqual(post.requestBody.content['application/json'].schema, { $ref: '#/components/schemas/ServiceSpec' });
    assert.ok(post.responses['409']);
    assert.ok(r.body.components.schemas.Service.properties.spec);
    const tasksGet = r.body.paths['/v1/tasks'].get;
    assert.deepEqual(tasksGet.parameters.map((p: { name: string }) => p.name), ['service', 'node', 'desiredState', 'brief']);
    assert.ok(r.body.paths['/v1/nodes/{idOrHostname}'].patch);
    assert.ok(r.body.paths['/v1/events'].get.responses['200'].content['text/event-stream']);
    assert.equal(JSON.stringify(r.body).includes('"$ref":"#/components/schemas/Service"'), true);
  });
});
