import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Task, TaskState } from '../../api/task.ts';
import { connectionPair } from '../../testing/connection-pair.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { ScriptedAgent } from '../../testing/scripted-agent.ts';
import { Sessions } from './sessions.ts';
import { isDispatcherError } from './errors.ts';

const status = (state: TaskState, extra: Record<string, unknown> = {}) => ({
  state,
  message: state,
  timestamp: '2026-01-01T00:00:01.000Z',
  ...extra,
});

void describe('dispatcher sessions', () => {
  let store: Store;
  let clock: FakeClock;
  let dispatcher: Sessions;

  beforeEach(async () => {
    clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
    dispatcher = new Sessions({ store, clock, logger: silentLogger });
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

  async function seedTask(overrides: Parameters<typeof makeTask>[0]): Promise<Task> {
    const t = makeTask(overrides);
    return store.update((tx) => tx.tasks.create(t));
  }

  void it("registers the manager's own agent with role manager", async () => {
    await dispatcher.stop();
    dispatcher = new Sessions({ store, clock, logger: silentLogger }, { managerNodeIds: ['local'] });
    await dispatcher.start();
    const local = connect();
    local.hello('local');
    await local.next('welcome');
    const other = connect();
    other.hello('other');
    await other.next('welcome');
    assert.equal(store.nodes.get('local')?.spec.role, 'manager');
    assert.equal(store.nodes.get('other')?.spec.role, 'worker');
  });

  void it('registers a new node, assigns it an id and sends an empty full set', async () => {
    const a = connect();
    a.hello();
    const welcome = await a.next('welcome');
    assert.equal(welcome.heartbeatPeriodMs, 1000);
    const node = store.nodes.get(welcome.nodeId);
    assert.ok(node);
    assert.deepEqual(node.spec, { role: 'worker', availability: 'active', labels: {} });
    assert.equal(node.status.state, 'ready');
    assert.equal(node.status.addr, 'in-process:agent');
    assert.equal(node.description.hostname, 'h1');
    assert.deepEqual(await a.next('assignments'), { type: 'assignments', full: true, tasks: [], removed: [] });
  });

  void it('pushes the full set on connect, then diffs', async () => {
    const assigned = await seedTask({ id: 'a', nodeId: 'n1', status: { state: 'assigned' } });
    await seedTask({ id: 'p', nodeId: 'n1', status: { state: 'pending' } });
    await seedTask({ id: 'o', nodeId: 'n2', status: { state: 'assigned' } });
    const a = connect();
    a.hello('n1');
    assert.equal((await a.next('welcome')).nodeId, 'n1');
    const full = await a.next('assignments');
    assert.equal(full.full, true);
    assert.deepEqual(full.tasks.map((t) => t.id), ['a']);

    await seedTask({ id: 'b', nodeId: 'n1', status: { state: 'assigned' } });
    const add = await a.next('assignments');
    assert.deepEqual([add.full, add.tasks.map((t) => t.id), add.removed], [false, ['b'], []]);

    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('a')!, desiredState: 'shutdown' }));
    const stop = await a.next('assignments');
    assert.deepEqual([stop.tasks.map((t) => [t.id, t.desiredState]), stop.removed], [[['a', 'shutdown']], []]);

    await store.update((tx) => tx.tasks.delete(assigned.id));
    const del = await a.next('assignments');
    assert.deepEqual([del.tasks, del.removed], [[], ['a']]);
  });

  void it('tells metrics the time from heartbeat to heartbeat; the lag figure is the silence since any message', async () => {
    await dispatcher.stop();
    const gaps: number[] = [];
    dispatcher = new Sessions({ store, clock, logger: silentLogger, metrics: { heartbeat: (ms) => gaps.push(ms) } });
    await dispatcher.start();
    const a = connect();
    a.hello('n1');
    await a.next('welcome');
    await clock.advance(1_000);
    a.send({ type: 'heartbeat' });
    await clock.advance(300);
    a.send({ type: 'status', seq: 1, updates: [] }); // a status between heartbeats is not one
    await clock.advance(700);
    a.send({ type: 'heartbeat' });
    await clock.advance(400);
    assert.deepEqual(gaps, [1_000, 1_000]);
    a.send({ type: 'status', seq: 2, updates: [] });
    await clock.advance(100);
    assert.deepEqual(dispatcher.sessionFigures(), { sessions: 1, maxSilenceMs: 100 });
  });

  void it('ingests status in batches, forward only, from the assigned node only, and acknowledges', async () => {
    await seedTask({ id: 't1', nodeId: 'n1', status: { state: 'assigned' } });
    await seedTask({ id: 't2', nodeId: 'n2', status: { state: 'assigned' } });
    const a = connect();
    a.hello('n1');
    await a.next('welcome');
    a.send({
      type: 'status',
      seq: 1,
      updates: [
        { taskId: 't1', status: status('accepted') },
        { taskId: 't1', status: status('running', { containerId: 'c1' }) },
        { taskId: 't1', status: status('starting') },
        { taskId: 't2', status: status('running') },
        { taskId: 'nope', status: status('running') },
      ],
    });
    await clock.advance(49);
    assert.equal(a.inbox.some((m) => m.type === 'status-ack'), false, 'collected for 50 ms');
    await clock.advance(1);
    assert.equal((await a.next('status-ack')).seq, 1);
    const t1 = store.tasks.get('t1')!;
    assert.equal(t1.status.state, 'running');
    assert.equal(t1.status.containerId, 'c1');
    assert.equal(store.tasks.get('t2')!.status.state, 'assigned', 'another node cannot report on t2');
  });

  void it('streams a task’s logs from its node', async () => {
    await seedTask({ id: 't1', nodeId: 'n1', status: { state: 'running' } });
    const a = connect();
    a.hello('n1');
    await a.next('welcome');
    const lines: string[] = [];
    const reading = (async () => {
      for await (const l of dispatcher.taskLogs('t1', { follow: false, tail: 2 })) lines.push(l.line);
    })();
    const req = await a.next('logs');
    assert.deepEqual([req.taskId, req.follow, req.tail], ['t1', false, 2]);
    a.send({ type: 'log', requestId: req.requestId, lines: [{ stream: 'stdout', line: 'one' }, { stream: 'stderr', line: 'two' }] });
    a.send({ type: 'log-end', requestId: req.requestId });
    await reading;
    assert.deepEqual(lines, ['one', 'two']);

    await assert.rejects(
      async () => {
        for await (const _ of dispatcher.taskLogs('missing', { follow: false })) void _;
      },
      (e: unknown) => isDispatcherError(e) && e.code === 'not_found',
    );
  });

  void it('closes a session that sends garbage', async () => {
    const a = connect();
    a.conn.send('{"type":"hello"}');
    await a.untilClosed();
    assert.equal(a.inbox[0]?.type, 'error');
  });
});
