/**
 * The agent among several managers, with scripted managers on in-process connections and a
 * fake clock: sent on to the leader by a follower, following "leader moved", retrying the last
 * leader and then the others after a dropped session, and keeping the list across a restart.
 * (The same with real managers on etcd: `src/manager/agent-failover.test.ts`.)
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AgentMessage, Connection, ManagerMessage } from '../api/agent-protocol.ts';
import { encodeMessage, parseAgentMessage } from '../api/agent-protocol.ts';
import type { ManagerEntry } from '../api/managers.ts';
import { silentLogger } from '../lib/logger.ts';
import { connectionPair } from '../testing/connection-pair.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { Agent } from './agent.ts';
import { FakeDriver } from './drivers/fake/fake-driver.ts';
import { ManagerDirectory } from './manager-directory.ts';
import { MANAGERS_FILE } from './managers-file.ts';

/** One scripted manager: records connections and what agents send on them. */
class Scripted {
  readonly addr: string;
  down = false;
  readonly conns: Array<{ conn: Connection; received: AgentMessage[] }> = [];
  attempts = 0;

  constructor(addr: string) {
    this.addr = addr;
  }

  connect(): Promise<Connection> {
    this.attempts++;
    if (this.down) return Promise.reject(new Error(`connect ECONNREFUSED ${this.addr}`));
    const [agentEnd, managerEnd] = connectionPair(`in-process:${this.addr}`, 'in-process:agent');
    const c = { conn: managerEnd, received: [] as AgentMessage[] };
    managerEnd.onMessage((text) => {
      const p = parseAgentMessage(text);
      if (p.ok) c.received.push(p.message);
    });
    this.conns.push(c);
    return Promise.resolve(agentEnd);
  }

  get last(): { conn: Connection; received: AgentMessage[] } | undefined {
    return this.conns.at(-1);
  }

  send(m: ManagerMessage): void {
    this.last?.conn.send(encodeMessage(m));
  }
}

const entries = (leader: string | undefined, ...addrs: string[]): ManagerEntry[] => addrs.map((addr) => ({ id: addr, addr, leader: addr === leader }));

void describe('agent among several managers', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-failover-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function setup(dataDir: string, seed: string): { clock: FakeClock; managers: Map<string, Scripted>; directory: ManagerDirectory; agent: Agent } {
    const clock = new FakeClock();
    const managers = new Map(['a:1', 'b:1', 'c:1'].map((a) => [a, new Scripted(a)]));
    const directory = new ManagerDirectory(seed);
    const agent = new Agent(
      {
        clock,
        logger: silentLogger,
        drivers: [new FakeDriver({ nodeId: 'n1', clock })],
        dataDir,
        managers: directory,
        connect: () => managers.get(directory.next())!.connect(),
      },
      { backoff: { initialMs: 100, maxMs: 1_000, jitter: 0 } },
    );
    return { clock, managers, directory, agent };
  }

  /** Lets the session run its pending steps (connections resolve on microtasks, retries on the clock). */
  async function settle(clock: FakeClock, ms = 0): Promise<void> {
    for (let i = 0; i < 5; i++) await clock.advance(ms / 5);
  }

  void it('is sent on by a follower to the leader, follows "leader moved", and after a drop tries the last leader then the others', async () => {
    const dataDir = join(dir, 'n1');
    const { clock, managers, directory, agent } = setup(dataDir, 'b:1');
    const [a, b, c] = ['a:1', 'b:1', 'c:1'].map((x) => managers.get(x)!) as [Scripted, Scripted, Scripted];
    try {
      await agent.start();
      await settle(clock);
      // b follows: refuses, naming a.
      assert.equal(b.last?.received[0]?.type, 'hello');
      b.send({ type: 'error', code: 'not_leader', message: 'session refused: this manager is not the leader', leader: 'a:1', managers: entries('a:1', 'a:1', 'b:1', 'c:1') });
      b.last?.conn.close(1013, 'not the leader');
      await settle(clock); // no backoff: straight to the leader
      assert.equal(a.attempts, 1, 'went to the leader at once');
      a.send({ type: 'welcome', nodeId: 'n1', heartbeatPeriodMs: 1_000, managers: entries('a:1', 'a:1', 'b:1', 'c:1') });
      await settle(clock);
      assert.equal(directory.attachedTo, 'a:1');
      assert.equal(agent.sessionState, 'ready');

      // a stops leading and names c.
      a.send({ type: 'managers', managers: entries('c:1', 'a:1', 'b:1', 'c:1') });
      a.send({ type: 'error', code: 'leader_moved', message: 'leader moved', leader: 'c:1' });
      a.last?.conn.close(1012, 'leader moved');
      await settle(clock);
      assert.equal(c.attempts, 1, 'went to the new leader');
      c.send({ type: 'welcome', nodeId: 'n1', heartbeatPeriodMs: 1_000 });
      await settle(clock);
      assert.equal(directory.attachedTo, 'c:1');

      // c dies (and the others cannot be reached either): the agent tries c again, then the
      // others, backing off between attempts.
      for (const m of [a, b, c]) m.down = true;
      c.last?.conn.close(1006, '');
      await settle(clock, 5_000);
      assert.ok(c.attempts >= 2, 'the last leader is tried first');
      assert.ok(a.attempts >= 2 && b.attempts >= 2, 'then every other manager');
      assert.equal(directory.attachedTo, undefined);
      await agent.stop();

      const saved = JSON.parse(await readFile(join(dataDir, MANAGERS_FILE), 'utf8')) as { managers: string[]; leader?: string };
      assert.deepEqual([...saved.managers].sort(), ['a:1', 'b:1', 'c:1']);
      assert.equal(saved.leader, 'c:1');

      // A restarted agent configured with b alone starts from the saved list, the last leader first.
      const again = setup(dataDir, 'b:1');
      await again.agent.start();
      await settle(again.clock);
      assert.equal(again.managers.get('c:1')!.attempts, 1, 'the saved leader is tried first');
      await again.agent.stop();
    } finally {
      await agent.stop();
    }
  });

  void it('backs off when managers keep sending it around (an election settling)', async () => {
    const { clock, managers, agent } = setup(join(dir, 'n2'), 'a:1');
    const [a, b] = ['a:1', 'b:1'].map((x) => managers.get(x)!) as [Scripted, Scripted];
    try {
      await agent.start();
      // a and b each say the other leads.
      for (let i = 0; i < 10; i++) {
        await settle(clock);
        for (const [m, other] of [
          [a, 'b:1'],
          [b, 'a:1'],
        ] as const) {
          const last = m.last;
          if (last && last.received.length > 0 && !last.received.some((x) => x.type === 'heartbeat')) {
            m.send({ type: 'error', code: 'not_leader', message: 'not the leader', leader: other });
            last.conn.close(1013, 'not the leader');
          }
        }
      }
      const quick = a.attempts + b.attempts;
      assert.ok(quick <= 2 + 3 + 1, `at most a few attempts without waiting (got ${quick})`);
    } finally {
      await agent.stop();
    }
  });
});
