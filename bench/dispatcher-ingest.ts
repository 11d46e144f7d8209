/**
 * Dispatcher status-ingest benchmark: N tasks assigned to M nodes in a SQLite store in a file;
 * M in-process agent sessions report `running` for every task in `status` messages of K
 * updates, and the clock starts at the first message and stops at the last acknowledgement
 * (every update committed). The last line is one JSON object:
 * {"nodes","updates","seconds","updatesPerSec","rssMB"}.
 *
 *   node bench/dispatcher-ingest.ts [--nodes 100] [--tasks 50000] [--per-message 500]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AgentMessage } from '../src/api/agent-protocol.ts';
import { encodeMessage, parseManagerMessage, PROTOCOL_VERSION } from '../src/api/agent-protocol.ts';
import { connectionPair } from '../src/testing/connection-pair.ts';
import { systemClock } from '../src/lib/clock.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { Sessions } from '../src/manager/dispatcher/sessions.ts';
import { SqliteBackend } from '../src/store/sqlite/sqlite-backend.ts';
import { Store } from '../src/store/store.ts';
import { makeTask } from '../src/testing/fixtures.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    tasks: { type: 'string', default: '50000' },
    'per-message': { type: 'string', default: '500' },
  },
});
const NODES = Number(args.nodes);
const TASKS = Number(args.tasks);
const PER_MESSAGE = Number(args['per-message']);

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
const backend = SqliteBackend.open(process.env['BENCH_MEMORY'] ? ':memory:' : join(dir, 'state.db'));
const store = await Store.open(backend, { logger: silentLogger });
try {
  const nodeIds = Array.from({ length: NODES }, (_, i) => `node-${i}`);
  const byNode = new Map<string, string[]>(nodeIds.map((n) => [n, []]));
  for (let i = 0; i < TASKS; i += 1000) {
    await store.batch((b) => {
      for (let j = i; j < Math.min(TASKS, i + 1000); j++) {
        const nodeId = nodeIds[j % NODES]!;
        const task = makeTask({ id: `task-${j}`, nodeId, slot: j + 1, status: { state: 'assigned' } });
        byNode.get(nodeId)!.push(task.id);
        b.update((tx) => void tx.tasks.create(task));
      }
    });
  }
  console.log(`seeded ${TASKS} tasks on ${NODES} nodes`);

  const dispatcher = new Sessions({ store, clock: systemClock, logger: silentLogger }, process.env['BENCH_MAX_BATCH'] ? { maxStatusBatch: Number(process.env['BENCH_MAX_BATCH']) } : {});
  await dispatcher.start();
  let expectedAcks = 0;
  let acks = 0;
  let allAcked: () => void = () => {};
  const done = new Promise<void>((r) => (allAcked = r));
  const agents = await Promise.all(
    nodeIds.map(
      (nodeId) =>
        new Promise<(m: AgentMessage) => void>((resolve) => {
          const [agentEnd, managerEnd] = connectionPair(`agent:${nodeId}`, 'manager');
          dispatcher.accept(managerEnd);
          const send = (m: AgentMessage): void => agentEnd.send(encodeMessage(m));
          agentEnd.onMessage((text) => {
            const p = parseManagerMessage(text);
            if (!p.ok) throw new Error(p.error);
            if (p.message.type === 'welcome') resolve(send);
            if (p.message.type === 'status-ack' && ++acks === expectedAcks) allAcked();
          });
          send({
            type: 'hello',
            protocol: PROTOCOL_VERSION,
            nodeId,
            description: { hostname: nodeId, platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 4e9, memoryBytes: 2 ** 33 }, drivers: ['fake'] },
          });
        }),
    ),
  );
  console.log(`${NODES} sessions open`);

  const timestamp = new Date().toISOString();
  const messages: Array<[number, AgentMessage]> = [];
  let seq = 0;
  nodeIds.forEach((nodeId, n) => {
    const ids = byNode.get(nodeId)!;
    for (let i = 0; i < ids.length; i += PER_MESSAGE) {
      const updates = ids.slice(i, i + PER_MESSAGE).map((taskId) => ({
        taskId,
        status: { state: 'running' as const, message: 'started', timestamp, containerId: `c-${taskId}` },
      }));
      messages.push([n, { type: 'status', seq: ++seq, updates }]);
    }
  });
  expectedAcks = messages.length;
  // Agents keep their sessions alive while the ingest runs.
  const beat = setInterval(() => agents.forEach((send) => send({ type: 'heartbeat' })), 500);
  const t0 = performance.now();
  for (const [n, m] of messages) agents[n]!(m);
  await done;
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(beat);
  const running = store.tasks.all().filter((t) => t.status.state === 'running').length;
  if (running !== TASKS) throw new Error(`only ${running} of ${TASKS} tasks are running`);
  await dispatcher.stop();
  const result = {
    nodes: NODES,
    updates: TASKS,
    seconds: Number(seconds.toFixed(3)),
    updatesPerSec: Math.round(TASKS / seconds),
    rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
  console.log(JSON.stringify(result));
} finally {
  await store.close();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
}
