import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { parseManagerMessage } from '../../api/agent-protocol.ts';
import type { ManagerEntry } from '../../api/managers.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { connectionPair } from '../../testing/connection-pair.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { FlippedLeadership } from '../../testing/flipped-leadership.ts';
import { ScriptedAgent } from '../../testing/scripted-agent.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { isDispatcherError } from './errors.ts';
import { Sessions } from './sessions.ts';

const A: ManagerEntry = { id: 'mgr-a', addr: '10.0.0.1:4280', leader: true };
const B: ManagerEntry = { id: 'mgr-b', addr: '10.0.0.2:4280', leader: false };
const led = (leader: ManagerEntry | undefined): ManagerEntry[] => [A, B].map((m) => ({ ...m, leader: m.id === leader?.id }));

void describe('dispatcher sessions follow the leadership', () => {
  let store: Store;
  let clock: FakeClock;
  let leadership: FlippedLeadership;
  let dispatcher: Sessions;

  beforeEach(async () => {
    clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
    leadership = new FlippedLeadership('leader');
    leadership.setMembers(led(A));
    dispatcher = new Sessions({ store, clock, logger: silentLogger, leadership });
    await dispatcher.start();
  });
  afterEach(async () => {
    await dispatcher.stop();
    await store.close();
  });

  function connect(): ScriptedAgent {
    const [agentEnd, managerEnd] = connectionPair('in-process:agent', 'in-process:manager');
    dispatcher.accept(managerEnd);
    return new ScriptedAgent(agentEnd);
  }

  void it('a follower refuses a hello, naming the leader and every manager, and registers nothing', async () => {
    leadership.set('follower');
    leadership.setMembers(led(B));
    const agent = connect();
    agent.hello('n1');
    const refusal = await agent.next('error');
    assert.equal(refusal.code, 'not_leader');
    assert.equal(refusal.leader, B.addr);
    assert.deepEqual(refusal.managers, led(B));
    assert.match(refusal.message, /not the leader; the leader is at 10\.0\.0\.2:4280/);
    await agent.untilClosed();
    assert.equal(store.nodes.get('n1'), undefined, 'a follower writes no node');
    assert.deepEqual(dispatcher.connectedNodes(), []);
  });

  void it('a follower that knows no leader says so and names none', async () => {
    leadership.set('follower');
    leadership.setMembers(led(undefined));
    const agent = connect();
    agent.hello('n1');
    const refusal = await agent.next('error');
    assert.equal(refusal.code, 'not_leader');
    assert.equal(refusal.leader, undefined);
    assert.match(refusal.message, /no leader is known yet/);
  });

  void it('the welcome lists the managers, and a change of them is told once', async () => {
    const agent = connect();
    agent.hello('n1');
    const welcome = await agent.next('welcome');
    assert.deepEqual(welcome.managers, led(A));
    const C: ManagerEntry = { id: 'mgr-c', nodeId: 'n3', addr: '10.0.0.3:4280', leader: false };
    leadership.setMembers([...led(A), C]);
    const update = await agent.next('managers');
    assert.deepEqual(update.managers, [...led(A), C]);
    leadership.setMembers([C, ...led(A)]); // the same managers in another order: nothing to tell
    leadership.setMembers([...led(A), C]);
    await clock.advance(10);
    assert.equal(
      agent.inbox.filter((m) => m.type === 'managers').length,
      0,
      'an unchanged list is not sent again',
    );
  });

  void it('a protocol 1 agent is welcomed and never sent the managers message', async () => {
    const agent = connect();
    agent.send({ type: 'hello', protocol: 1, nodeId: 'old', description: { hostname: 'old', platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 1e9, memoryBytes: 2 ** 30 }, drivers: ['fake'] } });
    await agent.next('welcome');
    leadership.setMembers(led(B));
    await clock.advance(10);
    assert.equal(agent.inbox.filter((m) => m.type === 'managers').length, 0);
  });

  void it('losing the lead ends every session with "leader moved", naming the new leader', async () => {
    const agent = connect();
    agent.hello('n1');
    await agent.next('welcome');
    assert.deepEqual(dispatcher.connectedNodes(), ['n1']);
    leadership.setMembers(led(B));
    leadership.set('follower');
    const notice = await agent.next('error');
    assert.equal(notice.code, 'leader_moved');
    assert.equal(notice.leader, B.addr);
    await agent.untilClosed();
    assert.deepEqual(dispatcher.connectedNodes(), []);
    assert.equal(store.nodes.get('n1')?.status.state, 'ready', 'the node stays ready: the new leader gives it a grace period');

    // Leading again: sessions are accepted again.
    leadership.set('leader');
    leadership.setMembers(led(A));
    const again = connect();
    again.hello('n1');
    await again.next('welcome');
  });

  void it("a follower says where a task's logs are", async () => {
    leadership.set('follower');
    leadership.setMembers(led(B));
    await assert.rejects(
      async () => {
        for await (const _ of dispatcher.taskLogs(makeTask({ id: 't1', nodeId: 'n1' }), { follow: false })) break;
      },
      (err: unknown) => isDispatcherError(err) && err.code === 'unavailable' && /not the leader.*10\.0\.0\.2:4280/.test(err.message),
    );
  });

  void it('a refusal and a notice pass the protocol check of the agent side', () => {
    for (const m of [
      { type: 'error', code: 'not_leader', message: 'x', leader: 'h:1', managers: led(A) },
      { type: 'managers', managers: led(B) },
      { type: 'welcome', nodeId: 'n', heartbeatPeriodMs: 1000, managers: led(A) },
    ]) {
      assert.equal(parseManagerMessage(JSON.stringify(m)).ok, true, m.type);
    }
    assert.equal(parseManagerMessage(JSON.stringify({ type: 'error', code: 'bogus', message: 'x' })).ok, false, 'an unknown code is not accepted');
    assert.equal(parseManagerMessage(JSON.stringify({ type: 'managers', managers: [{ id: 'a', addr: 'h:1' }] })).ok, false, 'an entry without leader is not accepted');
  });
});
