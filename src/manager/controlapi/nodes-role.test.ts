import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Node } from '../../api/node.ts';
import { makeNode } from '../../testing/fixtures.ts';
import { startApi, type ApiHarness } from '../../testing/api-harness.ts';

function create(h: ApiHarness, node: Node): Promise<void> {
  const { version: _v, createdAt: _c, updatedAt: _u, ...rest } = node;
  return h.store.update((tx) => {
    tx.nodes.create(rest);
  });
}

describe('PATCH /v1/nodes/:idOrHostname role (node promote, demote)', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi();
  });
  afterEach(async () => {
    await h.close();
  });

  it('promotes a worker and demotes a manager while another manager remains', async () => {
    await create(h, makeNode({ id: 'm1', description: { hostname: 'alpha' }, spec: { role: 'manager' } }));
    await create(h, makeNode({ id: 'w1', description: { hostname: 'beta' }, spec: { role: 'worker' } }));
    const promoted = await h.call('PATCH', '/v1/nodes/beta', { role: 'manager' });
    assert.equal(promoted.status, 200);
    assert.equal(promoted.body.spec.role, 'manager');
    const demoted = await h.call('PATCH', '/v1/nodes/alpha', { role: 'worker' });
    assert.equal(demoted.status, 200);
    assert.equal(h.store.nodes.get('m1')?.spec.role, 'worker');
  });

  it('refuses to demote the last manager, with 412 and nothing changed', async () => {
    await create(h, makeNode({ id: 'm1', description: { hostname: 'alpha' }, spec: { role: 'manager' } }));
    await create(h, makeNode({ id: 'w1', description: { hostname: 'beta' }, spec: { role: 'worker' } }));
    const r = await h.call('PATCH', '/v1/nodes/alpha', { role: 'worker' });
    assert.equal(r.status, 412);
    assert.equal(r.body.error.code, 'failed_precondition');
    assert.equal(r.body.error.message, 'node alpha is the last manager of the cluster: promote another node first (flotilla node promote NODE)');
    assert.equal(h.store.nodes.get('m1')?.spec.role, 'manager');
    // Demoting a worker is no change, and no refusal.
    assert.equal((await h.call('PATCH', '/v1/nodes/beta', { role: 'worker' })).status, 200);
  });
});
