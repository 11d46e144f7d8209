import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { connectionPair } from '../../testing/connection-pair.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeNode } from '../../testing/fixtures.ts';
import { ScriptedAgent } from '../../testing/scripted-agent.ts';
import { Liveness } from './liveness.ts';
import { Sessions } from './sessions.ts';

/** Waits for a store condition, re-checked on every committed change. */
function waitForStore(store: Store, predicate: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for ${what}`));
    }, 60_000);
    const stop = store.watch(() => {
      if (!predicate()) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

void describe('dispatcher liveness (with the sessions that hear the heartbeats)', () => {
  let store: Store;
  let clock: FakeClock;
  let sessions: Sessions;
  let liveness: Liveness;

  async function startBoth(): Promise<void> {
    sessions = new Sessions({ store, clock, logger: silentLogger });
    liveness = new Liveness({ store, clock, logger: silentLogger, heartbeats: sessions });
    await sessions.start();
    await liveness.start();
  }

  async function stopBoth(): Promise<void> {
    await liveness.stop();
    await sessions.stop();
  }

  beforeEach(async () => {
    clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
    await startBoth();
  });
  afterEach(async () => {
    await stopBoth();
    await store.close();
  });

  function connect(): ScriptedAgent {
    const [agentEnd, managerEnd] = connectionPair('in-process:agent', 'in-process:manager');
    sessions.accept(managerEnd);
    return new ScriptedAgent(agentEnd);
  }

  void it('marks a silent node down within the grace period, and ready when it returns', async () => {
    const a = connect();
    a.hello('n1');
    await a.next('welcome');
    let nodeWrites = 0;
    const stop = store.watch(() => nodeWrites++, { kinds: ['node'] });
    for (let i = 0; i < 8; i++) {
      await clock.advance(1000);
      a.send({ type: 'heartbeat' });
    }
    assert.equal(nodeWrites, 0, 'heartbeats are not written one by one');
    assert.equal(store.nodes.get('n1')!.status.state, 'ready');
    await clock.advance(2000);
    assert.equal(store.nodes.get('n1')!.status.heartbeatAt, new Date(clock.now() - 2000).toISOString(), 'heartbeatAt every 10 s');
    stop();

    await clock.advance(1500);
    await waitForStore(store, () => store.nodes.get('n1')!.status.state === 'down', 'node down');
    await a.untilClosed();

    const b = connect();
    b.hello('n1');
    await b.next('welcome');
    assert.equal(store.nodes.get('n1')!.status.state, 'ready');
  });

  void it('gives nodes that were up before a restart or a change of leader the start grace (15 s) to come back', async () => {
    await stopBoth();
    await store.update((tx) => {
      tx.nodes.create(makeNode({ id: 'n1' }));
      tx.nodes.create(makeNode({ id: 'n2' }));
    });
    await startBoth();
    const a = connect();
    a.hello('n1');
    await a.next('welcome');
    // Far past one grace period (3 s) but within the start grace: a failover marks nothing down.
    for (let i = 0; i < 14; i++) {
      await clock.advance(1000);
      a.send({ type: 'heartbeat' });
    }
    assert.equal(store.nodes.get('n2')!.status.state, 'ready', 'n2 still within the start grace');
    for (let i = 0; i < 2; i++) {
      await clock.advance(1000);
      a.send({ type: 'heartbeat' });
    }
    await waitForStore(store, () => store.nodes.get('n2')!.status.state === 'down', 'n2 down');
    assert.equal(store.nodes.get('n1')!.status.state, 'ready');
  });
});
