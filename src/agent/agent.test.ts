/**
 * The agent against a real dispatcher over a real WebSocket: registration, node id
 * persistence, running an assigned task, logs, and riding out a manager restart.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AGENT_SESSION_PATH } from '../api/agent-protocol.ts';
import type { AttachedContainer } from '../api/network.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { Sessions } from '../manager/dispatcher/sessions.ts';
import { attachAgentSessions, type AgentSessionEndpoint } from '../manager/dispatcher/ws-server.ts';
import { openMemoryStore } from '../store/memory.ts';
import type { Store } from '../store/store.ts';
import { makeTask } from '../testing/fixtures.ts';
import { Agent } from './agent.ts';
import { FakeDriver } from './drivers/fake/fake-driver.ts';
import { FakeHost } from './drivers/fake/fake-host.ts';
import { NODE_ID_FILE } from './node-id.ts';
import { connectWebSocket } from './transport/ws.ts';

function waitForStore(store: Store, predicate: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const stop = store.watch(() => {
      if (!predicate()) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

interface Manager {
  server: Server;
  endpoint: AgentSessionEndpoint;
  dispatcher: Sessions;
}

/** A manager on a fresh port: a restarted one never asks for its old port back (another process may hold it by then). */
async function startManager(store: Store): Promise<Manager> {
  const dispatcher = new Sessions({ store, clock: systemClock, logger: silentLogger }, { heartbeatPeriodMs: 200 });
  await dispatcher.start();
  const server = createServer((_req, res) => res.writeHead(404).end());
  const endpoint = attachAgentSessions(server, dispatcher);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint, dispatcher };
}

/**
 * Takes `port` as another process could once a manager left it: a restarted manager must not
 * depend on getting its old port back. (Already taken by someone else: just as good.)
 */
async function squat(port: number): Promise<Server> {
  const s = createServer();
  await new Promise<void>((resolve) => {
    s.once('error', () => resolve());
    s.listen(port, '127.0.0.1', resolve);
  });
  return s;
}

async function stopManager(m: Manager): Promise<void> {
  await m.endpoint.close();
  await m.dispatcher.stop();
  m.server.closeAllConnections();
  await new Promise<void>((resolve) => m.server.close(() => resolve()));
}

void describe('Agent over WebSocket', () => {
  let store: Store;
  let manager: Manager;
  let port: number;
  let dir: string;
  let agent: Agent;
  const host = new FakeHost();
  const nodeId = 'node-ws-1';

  before(async () => {
    store = await openMemoryStore({ logger: silentLogger });
    manager = await startManager(store);
    port = (manager.server.address() as AddressInfo).port;
    dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-'));
    agent = new Agent(
      {
        clock: systemClock,
        logger: silentLogger,
        drivers: [new FakeDriver({ nodeId, clock: systemClock, host })],
        dataDir: dir,
        connect: (signal) => connectWebSocket(`ws://127.0.0.1:${port}${AGENT_SESSION_PATH}`, { signal }),
      },
      { description: { hostname: 'ws-node' }, backoff: { initialMs: 20, maxMs: 200, jitter: 0.5 } },
    );
  });
  after(async () => {
    await agent.stop();
    await stopManager(manager);
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  void it('registers, and keeps the id the manager gave it', async () => {
    const welcomed = agent.welcomed();
    await agent.start();
    const id = await welcomed;
    const node = store.nodes.get(id);
    assert.equal(node?.status.state, 'ready');
    assert.equal(node?.description.hostname, 'ws-node');
    assert.deepEqual(node?.description.drivers, ['fake']);
    // The id is saved for the next start.
    assert.equal((await readFile(join(dir, NODE_ID_FILE), 'utf8')).trim(), id);
  });

  void it('runs an assigned task and serves its logs', async () => {
    const id = agent.nodeId!;
    const base = makeTask({ id: 'task-ws-1', nodeId: id, status: { state: 'assigned' } });
    const task = { ...base, spec: { ...base.spec, driver: 'fake' as const, container: { ...base.spec.container, env: ['FAKE_STDOUT=hello\nworld'] } } };
    await store.update((tx) => tx.tasks.create(task));
    await waitForStore(store, () => store.tasks.get(task.id)?.status.state === 'running', 'task running');
    assert.ok(store.tasks.get(task.id)?.status.containerId);

    const lines: string[] = [];
    for await (const l of manager.dispatcher.taskLogs(task.id, { follow: false })) lines.push(l.line);
    assert.deepEqual(lines, ['hello', 'world']);
  });

  void it('survives a manager restart and keeps its tasks', async (t) => {
    const pid = host.processes.get('task-ws-1')?.pid;
    await stopManager(manager);
    const squatter = await squat(port);
    t.after(() => squatter.close());
    const welcomed = agent.welcomed();
    manager = await startManager(store);
    port = (manager.server.address() as AddressInfo).port; // the agent's next connect goes there
    await welcomed;
    assert.deepEqual(manager.dispatcher.connectedNodes(), [agent.nodeId]);
    assert.equal(host.processes.get('task-ws-1')?.pid, pid, 'the task was not restarted');

    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get('task-ws-1')!, desiredState: 'shutdown' }));
    await waitForStore(store, () => store.tasks.get('task-ws-1')?.status.state === 'shutdown', 'task shut down');
    assert.equal(host.processes.get('task-ws-1')?.state, 'exited');
  });
});

void describe('Agent: plain containers on attachable networks', () => {
  it('sends the set its network reports, and again after each welcome (a manager that lost it learns it back)', async (t) => {
    let store = await openMemoryStore({ logger: silentLogger });
    let manager = await startManager(store);
    let port = (manager.server.address() as AddressInfo).port;
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-agent-'));
    let report: ((containers: AttachedContainer[]) => void) | undefined;
    const agent = new Agent(
      {
        clock: systemClock,
        logger: silentLogger,
        drivers: [new FakeDriver({ nodeId: 'node-att', clock: systemClock, host: new FakeHost() })],
        dataDir: dir,
        connect: (signal) => connectWebSocket(`ws://127.0.0.1:${port}${AGENT_SESSION_PATH}`, { signal }),
        network: { setMap: () => undefined, reportContainers: (r) => (report = r) },
      },
      { description: { hostname: 'att-node' }, backoff: { initialMs: 20, maxMs: 200, jitter: 0.5 } },
    );
    try {
      const welcomed = agent.welcomed();
      await agent.start();
      const id = await welcomed;
      const debug: AttachedContainer = { networkId: 'net-a', containerId: 'c0ffee', name: 'debug', aliases: [], addr: '10.1.3.192/16' };
      report?.([debug]);
      await waitForStore(store, () => store.nodes.get(id)?.status.containers?.[0]?.name === 'debug', 'the containers recorded');

      await stopManager(manager);
      await store.close();
      store = await openMemoryStore({ logger: silentLogger });
      const squatter = await squat(port);
      t.after(() => squatter.close());
      manager = await startManager(store);
      port = (manager.server.address() as AddressInfo).port; // the agent's next connect goes there
      await waitForStore(store, () => store.nodes.get(id)?.status.containers?.[0]?.name === 'debug', 'the containers sent again after the welcome', 10_000);
    } finally {
      await agent.stop();
      await stopManager(manager);
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
