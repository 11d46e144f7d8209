import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { makeServiceSpec } from '../../testing/fixtures.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';

const minimal = { name: 'web', taskTemplate: { container: { image: 'flotilla/busybox:test' } } };

describe('services API', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi();
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates a service with defaults filled and returns it exactly as stored', async () => {
    const r = await h.call('POST', '/v1/services', minimal);
    assert.equal(r.status, 201);
    const stored = h.store.services.byName('web');
    assert.ok(stored);
    assert.deepEqual(r.body, JSON.parse(JSON.stringify(stored)));
    assert.equal(r.body.specVersion, 1);
    assert.equal(r.body.spec.replicas, 1);
    assert.equal(r.body.spec.taskTemplate.driver, 'docker');
    const list = await h.call('GET', '/v1/services');
    assert.deepEqual(list.body, [r.body]);
  });

  it('refuses a taken name with 409 already_exists and changes nothing', async () => {
    await h.call('POST', '/v1/services', minimal);
    const rev = h.store.revision;
    const r = await h.call('POST', '/v1/services', minimal);
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'already_exists');
    assert.equal(r.body.error.message, 'service name web is already taken');
    assert.equal(h.store.revision, rev);
    assert.equal(h.store.services.all().length, 1);
  });

  it('rejects a bad spec with 400, every problem listed, and creates nothing', async () => {
    const r = await h.call('POST', '/v1/services', {
      ...minimal,
      replicas: -1,
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'invalid_argument');
    assert.match(r.body.error.message, /^invalid service spec: replicas: /);
    assert.equal(r.body.error.details[0].path, 'replicas');

    const c = await h.call('POST', '/v1/services', {
      ...minimal,
      taskTemplate: { container: { image: 'x' }, placement: { constraints: ['node.labels.zone==eu', 'zone=eu'] } },
    });
    assert.equal(c.status, 400);
    assert.equal(c.body.error.details[0].path, 'taskTemplate.placement.constraints[1]');
    assert.match(c.body.error.message, /malformed constraint "zone=eu"/);

    const j = await h.call('POST', '/v1/services', '{not json', { 'content-type': 'application/json' });
    assert.equal(j.status, 400);
    assert.equal(j.body.error.code, 'invalid_argument');
    assert.equal(h.store.services.all().length, 0);
    assert.equal(h.store.revision, 0);
  });

  it('finds a service by id, name and unique id prefix; 404 otherwise', async () => {
    const { body: s } = await h.call('POST', '/v1/services', minimal);
    for (const ref of [s.id, 'web', s.id.slice(0, 12)]) {
      const r = await h.call('GET', `/v1/services/${ref}`);
      assert.equal(r.status, 200, ref);
      assert.equal(r.body.id, s.id);
    }
    const r = await h.call('GET', '/v1/services/nope');
    assert.equal(r.status, 404);
    assert.deepEqual(r.body, { error: { code: 'not_found', message: 'service nope not found', details: [] } });
  });

  it('replaces the spec with optimistic concurrency; only task-affecting changes bump specVersion', async () => {
    const { body: s } = await h.call('POST', '/v1/services', minimal);
    const spec = makeServiceSpec({ name: 'web', replicas: 3 });
    const stale = await h.call('PUT', '/v1/services/web', { version: s.version - 1, spec });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, 'conflict');

    const scaled = await h.call('PUT', '/v1/services/web', { version: s.version, spec: { ...s.spec, replicas: 3 } });
    assert.equal(scaled.status, 200);
    assert.equal(scaled.body.spec.replicas, 3);
    assert.equal(scaled.body.specVersion, 1);
    assert.ok(scaled.body.version > s.version);

    const newImage = { ...scaled.body.spec, taskTemplate: { ...scaled.body.spec.taskTemplate, container: { image: 'other:1' } } };
    const updated = await h.call('PUT', `/v1/services/${s.id}`, { version: scaled.body.version, spec: newImage });
    assert.equal(updated.status, 200);
    assert.equal(updated.body.specVersion, 2);
    assert.equal(updated.body.spec.taskTemplate.container.image, 'other:1');
    assert.deepEqual(updated.body, JSON.parse(JSON.stringify(h.store.services.get(s.id))));

    const bad = await h.call('PUT', '/v1/services/web', { version: updated.body.version, spec: { ...newImage, replicas: -2 } });
    assert.equal(bad.status, 400);
    assert.equal(h.store.services.get(s.id)?.version, updated.body.version);
  });

  it('keeps the previous spec and starts an update when what tasks run changes', async () => {
    const { body: s } = await h.call('POST', '/v1/services', minimal);
    assert.equal(s.previousSpec, undefined);
    assert.equal(s.updateStatus, undefined);
    const scaled = await h.call('POST', '/v1/services/web/scale', { replicas: 2 });
    assert.equal(scaled.body.updateStatus, undefined, 'scaling is no rollout');
    const spec = { ...scaled.body.spec, taskTemplate: { ...scaled.body.spec.taskTemplate, container: { image: 'other:1' } } };
    const r = await h.call('PUT', '/v1/services/web', { version: scaled.body.version, spec });
    assert.equal(r.status, 200);
    assert.equal(r.body.specVersion, 2);
    assert.equal(r.body.previousSpecVersion, 1);
    assert.deepEqual(r.body.previousSpec, scaled.body.spec);
    assert.deepEqual(r.body.updateStatus, { state: 'updating', startedAt: new Date(h.clock.now()).toISOString(), message: 'update in progress' });
  });

  it('rolls back: 412 without a previous spec; a second rollback returns to the newer spec', async () => {
    const { body: s } = await h.call('POST', '/v1/services', minimal);
    const none = await h.call('POST', '/v1/services/web/rollback');
    assert.equal(none.status, 412);
    assert.deepEqual(none.body.error, {
      code: 'failed_precondition',
      message: 'service web has no previous spec to roll back to: it was never updated',
      details: [],
    });
    assert.equal(h.store.services.get(s.id)?.version, s.version, 'nothing changed');
    assert.equal((await h.call('POST', '/v1/services/nope/rollback')).status, 404);

    const v2 = { ...s.spec, taskTemplate: { ...s.spec.taskTemplate, container: { image: 'other:2' } } };
    const updated = await h.call('PUT', '/v1/services/web', { version: s.version, spec: v2 });
    await h.call('POST', '/v1/services/web/scale', { replicas: 3 });

    const back = await h.call('POST', `/v1/services/${s.id.slice(0, 12)}/rollback`);
    assert.equal(back.status, 200);
    assert.equal(back.body.spec.taskTemplate.container.image, 'flotilla/busybox:test');
    assert.equal(back.body.spec.replicas, 3, 'the replica count is not rolled back');
    assert.equal(back.body.specVersion, 3);
    assert.equal(back.body.previousSpecVersion, 2);
    assert.equal(back.body.previousSpec.taskTemplate.container.image, 'other:2');
    assert.equal(back.body.updateStatus.state, 'rollback_started');
    assert.equal(back.body.updateStatus.message, 'manually requested rollback');
    assert.deepEqual(back.body, JSON.parse(JSON.stringify(h.store.services.get(s.id))));

    const again = await h.call('POST', '/v1/services/web/rollback');
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.spec.taskTemplate, updated.body.spec.taskTemplate);
    assert.equal(again.body.specVersion, 4);
    assert.equal(again.body.previousSpecVersion, 3);
  });

  it('refuses a rename to a taken name', async () => {
    await h.call('POST', '/v1/services', minimal);
    const { body: api } = await h.call('POST', '/v1/services', { ...minimal, name: 'api' });
    const r = await h.call('PUT', '/v1/services/api', { version: api.version, spec: { ...api.spec, name: 'web' } });
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, 'already_exists');
    assert.equal(r.body.error.message, 'service name web is already taken');
  });

  it('scales replicated services and refuses global ones with 412', async () => {
    await h.call('POST', '/v1/services', minimal);
    const r = await h.call('POST', '/v1/services/web/scale', { replicas: 5 });
    assert.equal(r.status, 200);
    assert.equal(r.body.spec.replicas, 5);
    assert.equal(r.body.specVersion, 1);
    const neg = await h.call('POST', '/v1/services/web/scale', { replicas: -1 });
    assert.equal(neg.status, 400);

    await h.call('POST', '/v1/services', { ...minimal, name: 'agent', mode: 'global' });
    const g = await h.call('POST', '/v1/services/agent/scale', { replicas: 2 });
    assert.equal(g.status, 412);
    assert.equal(g.body.error.code, 'failed_precondition');
  });

  it('removes a service', async () => {
    await h.call('POST', '/v1/services', minimal);
    const r = await h.call('DELETE', '/v1/services/web');
    assert.equal(r.status, 204);
    assert.equal(h.store.services.all().length, 0);
    assert.equal((await h.call('DELETE', '/v1/services/web')).status, 404);
  });

  it('filters the list by stack and labels on the server; a bad filter is a 400 naming the parameter', async () => {
    const create = (name: string, labels: Record<string, string>): Promise<unknown> => h.call('POST', '/v1/services', { ...minimal, name, labels });
    await create('a', { 'com.docker.stack.namespace': 'shop', tier: 'front' });
    await create('b', { 'com.docker.stack.namespace': 'shop', tier: 'back' });
    await create('c', { tier: '' });
    const names = async (url: string): Promise<string[]> => ((await h.call('GET', url)).body as Array<{ spec: { name: string } }>).map((s) => s.spec.name).sort();
    assert.deepEqual(await names('/v1/services?stack=shop'), ['a', 'b']);
    assert.deepEqual(await names('/v1/services?label=tier'), ['a', 'b', 'c']);
    assert.deepEqual(await names('/v1/services?label=tier='), ['c']);
    assert.deepEqual(await names('/v1/services?stack=shop&label=tier=back'), ['b']);
    assert.deepEqual(await names('/v1/services?label=tier&label=com.docker.stack.namespace=shop'), ['a', 'b']);
    assert.deepEqual(await names('/v1/services?stack=none'), []);
    const bad = await h.call('GET', '/v1/services?label=%3Dfront');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.message, 'invalid query parameters: label[0]: expected KEY=VALUE (the label has this value) or KEY (the service has the label), got "=front"');
    const badStack = await h.call('GET', '/v1/services?stack=no%20way');
    assert.equal(badStack.body.error.details[0].path, 'stack');
    const unknown = await h.call('GET', '/v1/services?colour=red');
    assert.equal(unknown.body.error.message, 'invalid query parameters: colour: unknown parameter; expected stack, label');
    const desired = await h.call('GET', '/v1/tasks?desiredState=sleeping');
    assert.equal(desired.body.error.message, 'invalid query parameters: desiredState: expected running, shutdown or remove, got "sleeping"');
    const doc = (await h.call('GET', '/v1/openapi.json')).body;
    const params = doc.paths['/v1/services'].get.parameters as Array<{ name: string; in: string; schema: { type: string } }>;
    assert.deepEqual(params.map((p) => [p.name, p.in, p.schema.type]), [['stack', 'query', 'string'], ['label', 'query', 'array']]);
  });

  it('answers unknown routes with a coded 404', async () => {
    const r = await h.call('GET', '/v1/nothing');
    assert.equal(r.status, 404);
    assert.equal(r.body.error.code, 'not_found');
  });
});
