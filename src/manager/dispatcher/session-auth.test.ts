import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Connection, ManagerMessage } from '../../api/agent-protocol.ts';
import { encodeMessage, parseManagerMessage, PROTOCOL_VERSION } from '../../api/agent-protocol.ts';
import { connectionPair } from '../../testing/connection-pair.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeNode } from '../../testing/fixtures.ts';
import { Sessions } from './sessions.ts';

/** Opens a session as a TLS listener would (with `identity`), says hello, returns the first answer and whether it closed. */
async function open(d: Sessions, identity: { nodeId: string } | undefined, helloNodeId?: string): Promise<{ first: ManagerMessage; closed: Promise<void> }> {
  const [agent, manager] = connectionPair();
  const received = new Promise<ManagerMessage>((resolve) => {
    agent.onMessage((text) => {
      const p = parseManagerMessage(text);
      if (p.ok) resolve(p.message);
    });
  });
  const closed = new Promise<void>((resolve) => agent.onClose(() => resolve()));
  d.accept(manager, identity);
  hello(agent, helloNodeId);
  return { first: await received, closed };
}

function hello(conn: Connection, nodeId?: string): void {
  const description = { hostname: 'h1', platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 1e9, memoryBytes: 1e9 }, drivers: ['fake'] };
  conn.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, ...(nodeId ? { nodeId } : {}), description }));
}

describe('dispatcher: authenticated sessions', () => {
  let store: Store;
  let d: Sessions;
  beforeEach(async () => {
    const clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
    d = new Sessions({ store, clock, logger: silentLogger });
    await d.start();
  });
  afterEach(async () => {
    await d.stop();
    await store.close();
  });

  it('takes the node id from the identity and refreshes the joined node', async () => {
    const { version: _v, createdAt: _c, updatedAt: _u, ...node } = makeNode({ status: { state: 'unknown' } });
    await store.update((tx) => {
      tx.nodes.create(node);
    });
    const s = await open(d, { nodeId: node.id });
    assert.deepEqual(s.first.type === 'welcome' ? s.first.nodeId : s.first, node.id);
    assert.equal(store.nodes.get(node.id)?.status.state, 'ready');
    assert.deepEqual(store.nodes.get(node.id)?.description.drivers, ['fake']);
  });

  it('refuses a hello that names another node than the certificate', async () => {
    const { version: _v, createdAt: _c, updatedAt: _u, ...node } = makeNode();
    await store.update((tx) => {
      tx.nodes.create(node);
    });
    const s = await open(d, { nodeId: node.id }, 'other');
    assert.equal(s.first.type, 'error');
    assert.match(s.first.type === 'error' ? s.first.message : '', /hello names node other but the client certificate is node/);
    await s.closed;
  });

  it('never recreates a node that is gone (removed), unlike an unauthenticated hello', async () => {
    const s = await open(d, { nodeId: 'removed1' });
    assert.equal(s.first.type, 'error');
    assert.match(s.first.type === 'error' ? s.first.message : '', /not part of this cluster/);
    await s.closed;
    assert.equal(store.nodes.get('removed1'), undefined);

    const dev = await open(d, undefined, 'dev1');
    assert.equal(dev.first.type, 'welcome');
    assert.ok(store.nodes.get('dev1'));
  });
});
