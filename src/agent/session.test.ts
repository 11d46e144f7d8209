import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AgentMessage, Connection, ManagerMessage } from '../api/agent-protocol.ts';
import type { NetworkMap } from '../api/network.ts';
import { encodeMessage, parseAgentMessage } from '../api/agent-protocol.ts';
import { silentLogger } from '../lib/logger.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { makeTask } from '../testing/fixtures.ts';
import { Agent } from './agent.ts';
import { FakeDriver } from './drivers/fake/fake-driver.ts';
import { connectionPair } from '../testing/connection-pair.ts';

/** A manager end that records what agents send and answers as the test says. */
class ScriptedManager {
  readonly sessions: Array<{ conn: Connection; received: AgentMessage[] }> = [];
  refuse = false;

  connect = (): Promise<Connection> => {
    if (this.refuse) return Promise.reject(new Error('connection refused'));
    const [agentEnd, managerEnd] = connectionPair();
    const s = { conn: managerEnd, received: [] as AgentMessage[] };
    managerEnd.onMessage((text) => {
      const p = parseAgentMessage(text);
      if (!p.ok) throw new Error(p.error);
      s.received.push(p.message);
    });
    this.sessions.push(s);
    return Promise.resolve(agentEnd);
  };

  get last(): { conn: Connection; received: AgentMessage[] } {
    return this.sessions.at(-1)!;
  }

  send(m: ManagerMessage): void {
    this.last.conn.send(encodeMessage(m));
  }
}

void describe('agent session', () => {
  void it('heartbeats, reconnects with backoff, and re-sends unacknowledged statuses', async () => {
    const clock = new FakeClock();
    const manager = new ScriptedManager();
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-session-'));
    const agent = new Agent(
      { clock, logger: silentLogger, drivers: [new FakeDriver({ nodeId: 'n1', clock })], dataDir: dir, connect: manager.connect },
      { backoff: { initialMs: 100, maxMs: 1_000, jitter: 0 } },
    );
    try {
      await agent.start();
      await clock.advance(0);
      const hello = manager.last.received[0];
      assert.equal(hello?.type, 'hello');
      assert.equal(hello.type === 'hello' && hello.nodeId, undefined, 'no id on first contact');

      manager.send({ type: 'welcome', nodeId: 'n1', heartbeatPeriodMs: 1_000 });
      const base = makeTask({ id: 't1', nodeId: 'n1', status: { state: 'assigned' } });
      manager.send({ type: 'assignments', full: true, tasks: [{ ...base, spec: { ...base.spec, driver: 'fake' } }], removed: [] });
      await clock.advance(1_000);
      const first = manager.last.received;
      assert.ok(first.some((m) => m.type === 'heartbeat'));
      const statuses = first.filter((m) => m.type === 'status');
      assert.equal(statuses.length, 1, 'one batched status message');
      assert.deepEqual(statuses[0]!.type === 'status' && statuses[0]!.updates.map((u) => u.status.state), ['running']);

      // The manager goes away without acknowledging; the agent retries with backoff.
      manager.refuse = true;
      manager.last.conn.close(1001, 'manager stopping');
      await clock.advance(100 + 200 + 400);
      assert.equal(manager.sessions.length, 1);
      manager.refuse = false;
      await clock.advance(800);
      assert.equal(manager.sessions.length, 2, 'reconnected');
      const hello2 = manager.last.received[0];
      assert.equal(hello2?.type === 'hello' && hello2.nodeId, 'n1', 'says who it is now');

      manager.send({ type: 'welcome', nodeId: 'n1', heartbeatPeriodMs: 1_000 });
      await clock.advance(0);
      const resent = manager.last.received.filter((m) => m.type === 'status');
      assert.equal(resent.length, 1);
      const msg = resent[0]!;
      assert.ok(msg.type === 'status');
      assert.deepEqual(msg.updates.map((u) => [u.taskId, u.status.state]), [['t1', 'running']]);
      manager.send({ type: 'status-ack', seq: msg.seq });
      await clock.advance(0);
      assert.equal(agent.unacknowledgedStatuses, 0);
    } finally {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  void it('hands the network data plane each map not older than the last one', async () => {
    const clock = new FakeClock();
    const manager = new ScriptedManager();
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-session-'));
    const given: number[] = [];
    const agent = new Agent({
      clock,
      logger: silentLogger,
      drivers: [new FakeDriver({ nodeId: 'n1', clock })],
      dataDir: dir,
      connect: manager.connect,
      network: { setMap: (m) => given.push(m.revision) },
    });
    const map = (revision: number): NetworkMap => ({ revision, networks: [], services: [] });
    try {
      await agent.start();
      await clock.advance(0);
      manager.send({ type: 'network-map', map: map(1) });
      await clock.advance(0);
      assert.deepEqual(given, [], 'nothing before the welcome');
      manager.send({ type: 'welcome', nodeId: 'n1', heartbeatPeriodMs: 1_000 });
      for (const r of [5, 3, 5, 7]) manager.send({ type: 'network-map', map: map(r) });
      await clock.advance(0);
      assert.deepEqual(given, [5, 5, 7]);
      assert.equal(agent.sessionState, 'ready', 'maps are part of the protocol');
    } finally {
      await agent.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
