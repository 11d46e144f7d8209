import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { NetworkMapMessage } from '../../api/agent-protocol.ts';
import type { Network } from '../../api/network.ts';
import type { TaskState, TaskStatus } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { openMemoryStore } from '../../store/memory.ts';
import type { Store } from '../../store/store.ts';
import { connectionPair } from '../../testing/connection-pair.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeService, makeTask } from '../../testing/fixtures.ts';
import { ScriptedAgent } from '../../testing/scripted-agent.ts';
import { CONTAINERS_WRITE_INTERVAL_MS } from './node-writes.ts';
import { Sessions } from './sessions.ts';

const T0 = '2026-01-01T00:00:00.000Z';
const ADDR = { networkId: 'net-back', addr: '10.0.1.2/16' };

function network(id: string, name: string, subnet: string, slices: Network['slices'], ingress = false): Network {
  return {
    id,
    version: 0,
    createdAt: T0,
    updatedAt: T0,
    spec: { name, labels: {}, driver: 'overlay', internal: false, attachable: false, encrypted: false },
    subnet,
    vni: ingress ? 0x100000 : 0x100001,
    ingress,
    slices,
  };
}

const status = (state: TaskState, extra: Partial<TaskStatus> = {}): TaskStatus => ({
  state,
  message: state,
  timestamp: '2026-01-01T00:00:01.000Z',
  ...extra,
});

void describe('dispatcher sessions: network maps', () => {
  let store: Store;
  let clock: FakeClock;
  let dispatcher: Sessions;

  beforeEach(async () => {
    clock = new FakeClock();
    store = await openMemoryStore({ clock, logger: silentLogger });
    await store.update((tx) => {
      tx.table('network').create(network('net-ingress', 'ingress', '10.255.0.0/16', [{ nodeId: 'n1', subnet: '10.255.1.0/24' }], true));
      tx.table('network').create(network('net-back', 'back', '10.0.0.0/16', [{ nodeId: 'n1', subnet: '10.0.1.0/24' }]));
      tx.services.create(
        makeService({
          id: 'svc-api',
          spec: { name: 'api', taskTemplate: { networks: [{ target: 'back', aliases: [] }] } },
          endpointStatus: { specVersion: 1, virtualIps: [{ networkId: 'net-back', addr: '10.0.0.2/16' }] },
        }),
      );
      tx.tasks.create(
        makeTask({
          id: 't1',
          serviceId: 'svc-api',
          serviceName: 'api',
          nodeId: 'n1',
          networks: [{ networkId: 'net-back', name: 'back', aliases: [] }],
          status: { state: 'assigned' },
        }),
      );
    });
    dispatcher = new Sessions({ store, clock, logger: silentLogger });
    await dispatcher.start();
  });
  afterEach(async () => {
    await dispatcher.stop();
    await store.close();
  });

  /** Connects an agent and lets the map push tick after its welcome run. */
  async function connect(nodeId: string): Promise<ScriptedAgent> {
    const [agentEnd, managerEnd] = connectionPair('in-process:agent', 'in-process:manager');
    dispatcher.accept(managerEnd);
    const a = new ScriptedAgent(agentEnd);
    a.hello(nodeId);
    await a.next('welcome');
    await clock.advance(50);
    return a;
  }

  /** Sends a status report and lets the ingest commit it and the map debounce run. */
  async function report(a: ScriptedAgent, seq: number, s: TaskStatus): Promise<void> {
    a.send({ type: 'status', seq, updates: [{ taskId: 't1', status: s }] });
    await clock.advance(50);
    await a.next('status-ack');
    await clock.advance(50);
  }

  const endpoints = (m: NetworkMapMessage): string[] => m.map.services.flatMap((s) => s.endpoints.map((e) => e.taskId));

  void it('sends the map after the first assignments', async () => {
    const [agentEnd, managerEnd] = connectionPair('in-process:agent', 'in-process:manager');
    dispatcher.accept(managerEnd);
    const a = new ScriptedAgent(agentEnd);
    a.hello('n1');
    await a.next('welcome');
    await a.next('assignments');
    assert.equal(a.inbox.length, 0);
    await clock.advance(50);
    assert.equal(a.inbox[0]?.type, 'network-map', 'right after the full assignments');
    const { map } = await a.next('network-map');
    assert.equal(map.revision, store.revision);
    assert.deepEqual(map.networks.map((n) => n.name), ['back', 'ingress']);
    assert.deepEqual(map.networks[0]?.slices, [{ nodeId: 'n1', subnet: '10.0.1.0/24' }], 'no underlay described');
    assert.deepEqual(map.services.map((s) => [s.name, s.virtualIps, s.endpoints]), [['api', [{ networkId: 'net-back', addr: '10.0.0.2/16' }], []]]);
  });

  void it('pushes a new map when a task starts serving, and when it turns unhealthy', async () => {
    const a = await connect('n1');
    const first = await a.next('network-map');
    assert.deepEqual(endpoints(first), []);

    await report(a, 1, status('running', { containerId: 'c1' }));
    assert.equal(a.inbox.some((m) => m.type === 'network-map'), false, 'running without an address serves nothing: no map');

    await report(a, 2, status('running', { containerId: 'c1', networks: [ADDR] }));
    const serving = await a.next('network-map');
    assert.deepEqual(serving.map.services[0]?.endpoints, [{ taskId: 't1', nodeId: 'n1', slot: 1, addresses: [ADDR] }]);
    assert.ok(serving.map.revision > first.map.revision);

    await report(a, 3, status('running', { containerId: 'c1', networks: [ADDR], health: 'unhealthy' }));
    assert.deepEqual(endpoints(await a.next('network-map')), [], 'out of the endpoints');

    await report(a, 4, status('running', { containerId: 'c1', networks: [ADDR], health: 'healthy' }));
    assert.deepEqual(endpoints(await a.next('network-map')), ['t1'], 'back in');

    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t1')!, desiredState: 'shutdown' }));
    await clock.advance(50);
    assert.deepEqual(endpoints(await a.next('network-map')), [], 'being stopped: out at once');
  });

  void it('records the plain containers an agent reports and pushes them on attachable networks; they outlive a reconnect', async () => {
    await store.update((tx) => {
      const back = tx.table('network').get('net-back')!;
      tx.table('network').update({ ...back, spec: { ...back.spec, attachable: true } });
    });
    const a = await connect('n1');
    await a.next('network-map');
    const debug = { networkId: 'net-back', containerId: 'c0ffee', name: 'debug', aliases: ['tools'], addr: '10.0.1.192/16' };
    a.send({ type: 'containers', containers: [debug] });
    await clock.advance(50);
    await clock.advance(50);
    const { map } = await a.next('network-map');
    assert.deepEqual(map.networks.find((n) => n.id === 'net-back')?.containers, [{ nodeId: 'n1', containerId: 'c0ffee', name: 'debug', aliases: ['tools'], addr: '10.0.1.192/16' }]);
    assert.deepEqual(store.nodes.get('n1')?.status.containers, [debug]);

    a.conn.close();
    const again = await connect('n1');
    assert.deepEqual(store.nodes.get('n1')?.status.containers, [debug], 'kept until the agent reports again');
    await again.next('network-map');
    again.send({ type: 'containers', containers: [] });
    await clock.advance(CONTAINERS_WRITE_INTERVAL_MS); // the node's writes are spaced
    await clock.advance(50);
    assert.equal((await again.next('network-map')).map.networks.find((n) => n.id === 'net-back')?.containers, undefined);
    assert.equal(store.nodes.get('n1')?.status.containers, undefined);
  });

  void it('a report with a container it cannot take keeps the session and the valid entries', async () => {
    await store.update((tx) => {
      const back = tx.table('network').get('net-back')!;
      tx.table('network').update({ ...back, spec: { ...back.spec, attachable: true } });
    });
    const a = await connect('n1');
    await a.next('network-map');
    const good = { networkId: 'net-back', containerId: 'c0ffee', name: 'debug', aliases: [], addr: '10.0.1.192/16' };
    const longName = { ...good, containerId: 'c1', name: 'x'.repeat(200), addr: '10.0.1.193/16' };
    const badAddr = { ...good, containerId: 'c2', name: 'other', addr: 'nonsense' };
    a.send({ type: 'containers', containers: [longName, good, badAddr] });
    await clock.advance(50);
    await clock.advance(50);
    const { map } = await a.next('network-map');
    assert.deepEqual(map.networks.find((n) => n.id === 'net-back')?.containers?.map((c) => c.name), ['debug']);
    assert.deepEqual(store.nodes.get('n1')?.status.containers, [good]);
    assert.equal(a.closed, false, 'the session stays open');
    assert.equal(store.nodes.get('n1')?.status.state, 'ready');
  });

  void it('coalesces a burst of reports from one node into few writes, the last one winning', async () => {
    await store.update((tx) => {
      const back = tx.table('network').get('net-back')!;
      tx.table('network').update({ ...back, spec: { ...back.spec, attachable: true } });
    });
    const a = await connect('n1');
    await a.next('network-map');
    let writes = 0;
    const off = store.watch((ev) => {
      if (ev.kind === 'node' && ev.object.id === 'n1') writes++;
    });
    const c = (i: number): object => ({ networkId: 'net-back', containerId: `c${i}`, name: `n${i}`, aliases: [], addr: `10.0.1.${192 + (i % 60)}/16` });
    for (let i = 0; i < 50; i++) a.send({ type: 'containers', containers: [c(i)] });
    await clock.advance(50);
    await clock.advance(50);
    await a.next('network-map');
    assert.ok(writes <= 2, `${writes} writes for 50 reports`);
    // A report soon after a write waits out the interval; the last of a burst wins.
    const before = writes;
    for (let i = 50; i < 60; i++) a.send({ type: 'containers', containers: [c(i)] });
    await clock.advance(50);
    assert.equal(writes, before, 'not within the interval');
    await clock.advance(CONTAINERS_WRITE_INTERVAL_MS);
    await clock.advance(50);
    await a.next('network-map');
    assert.deepEqual(store.nodes.get('n1')?.status.containers, [c(59)]);
    assert.equal(writes, before + 1);
    off();
  });

  void it('collects changes for the debounce window and sends each node only a changed map', async () => {
    const a = await connect('n1');
    await a.next('network-map');
    const b = await connect('n2'); // holds no slice of back: sees ingress only
    assert.deepEqual((await b.next('network-map')).map.networks.map((n) => n.name), ['ingress']);

    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('t1')!, status: status('running', { networks: [ADDR] }) }));
    await clock.advance(49);
    assert.equal(a.inbox.some((m) => m.type === 'network-map'), false, 'within the window');
    await store.update((tx) => tx.services.update({ ...tx.services.get('svc-api')!, endpointStatus: { specVersion: 1, virtualIps: [{ networkId: 'net-back', addr: '10.0.0.3/16' }] } }));
    await clock.advance(1);
    const m = await a.next('network-map');
    assert.deepEqual([m.map.services[0]?.virtualIps[0]?.addr, endpoints(m)], ['10.0.0.3/16', ['t1']], 'both changes in one map');
    await clock.advance(100);
    assert.equal(a.inbox.some((x) => x.type === 'network-map'), false, 'one map for the burst');
    assert.equal(b.inbox.some((x) => x.type === 'network-map'), false, "n2's map did not change");

    // A heartbeat write does not even arm the map timer.
    const timers = clock.pendingTimers;
    await store.update((tx) => tx.nodes.update({ ...tx.nodes.get('n1')!, status: { ...tx.nodes.get('n1')!.status, heartbeatAt: T0 } }));
    assert.equal(clock.pendingTimers, timers);
  });

  void it('sends the whole map again on a new session', async () => {
    const a = await connect('n1');
    await a.next('network-map');
    a.conn.close();
    await a.untilClosed();
    const again = await connect('n1');
    assert.deepEqual((await again.next('network-map')).map.services.map((s) => s.name), ['api']);
  });
});
