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

describe('DELETE /v1/nodes/:idOrHostname', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi();
  });
  afterEach(async () => {
    await h.close();
  });

  it('refuses a ready node without force, and changes nothing', async () => {
    const n = makeNode({ description: { hostname: 'alpha' } });
    await create(h, n);
    const r = await h.call('DELETE', '/v1/nodes/alpha');
    assert.equal(r.status, 412);
    assert.equal(r.body.error.code, 'failed_precondition');
    assert.match(r.body.error.message, /node alpha is ready: .*--force/);
    assert.ok(h.store.nodes.get(n.id));
  });

  it('removes a ready node with force=true, and a down node without it', async () => {
    const ready = makeNode({ description: { hostname: 'alpha' } });
    const down = makeNode({ description: { hostname: 'beta' }, status: { state: 'down' } });
    await create(h, ready);
    await create(h, down);
    assert.equal((await h.call('DELETE', '/v1/nodes/alpha?force=true')).status, 204);
    assert.equal((await h.call('DELETE', `/v1/nodes/${down.id}`)).status, 204);
    assert.equal(h.store.nodes.size, 0);
    assert.equal((await h.call('DELETE', '/v1/nodes/beta')).status, 404);
  });

  it('remembers the removed node in the cluster object, so its certificate stays refused', async () => {
    await h.store.update((tx) => {
      tx.table('cluster').create({ id: 'c1', caCertificate: 'x', tokenVerifiers: { worker: 'w', manager: 'm' }, adminTokenSha256: 'h', removedNodeIds: [] });
    });
    const n = makeNode({ status: { state: 'down' } });
    await create(h, n);
    assert.equal((await h.call('DELETE', `/v1/nodes/${n.id}`)).status, 204);
    assert.deepEqual(h.store.table('cluster').get('c1')?.removedNodeIds, [n.id]);
  });
});
