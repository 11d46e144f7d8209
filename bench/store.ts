/**
 * Store throughput on a real SQLite file (WAL, synchronous=NORMAL), or on etcd: what the
 * scheduler and the dispatcher do. Prints one JSON line.
 *
 *   node_modules/.bin/node bench/store.ts [--tasks 50000] [--path /tmp/x.db]
 *   node_modules/.bin/node bench/store.ts --store etcd [--etcd HOST:PORT]   # default: a private etcd on loopback
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Task } from '../src/api/task.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { randomUUID } from 'node:crypto';
import type { Backend } from '../src/store/backend.ts';
import { EtcdBackend } from '../src/store/etcd/etcd-backend.ts';
import { SqliteBackend } from '../src/store/sqlite/sqlite-backend.ts';
import { startEtcd, type EtcdTestCluster } from '../src/testing/etcd-server.ts';
import { Store } from '../src/store/store.ts';
import { makeNode, makeService, makeTask } from '../src/testing/fixtures.ts';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '50000' },
    nodes: { type: 'string', default: '5000' },
    path: { type: 'string' },
    store: { type: 'string', default: 'sqlite' },
    etcd: { type: 'string' },
  },
});
if (values.store !== 'sqlite' && values.store !== 'etcd') throw new Error(`--store sqlite|etcd, not ${values.store}`);
const etcd: EtcdTestCluster | undefined = values.store === 'etcd' && values.etcd === undefined ? await startEtcd() : undefined;
const etcdRoot = `/flotilla-bench/${randomUUID()}`;
async function openBackend(): Promise<Backend> {
  if (values.store === 'sqlite') return SqliteBackend.open(path);
  return EtcdBackend.open({ endpoints: values.etcd?.split(',') ?? etcd!.endpoints, root: etcdRoot });
}
const N = Number(values.tasks);
const NODES = Number(values.nodes);
const dir = values.path ? undefined : mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
const path = values.path ?? join(dir!, 'state.db');

function rate(n: number, ms: number): number {
  return Math.round((n / ms) * 1000);
}

/** Wall time, and this process's CPU time (user + system): on a shared, loaded machine the
 * CPU-time rate is what the code would do with a core to itself. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; cpuMs: number; value: T }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  return { ms: performance.now() - t0, cpuMs: (c.user + c.system) / 1000, value };
}

const backend = await openBackend();
const store = await Store.open(backend, { logger: silentLogger, closeBackend: true });
let events = 0;
store.watch(() => events++, { kinds: ['task'] }); // a watcher, as the real components have

const svc = makeService();
const nodeIds: string[] = [];
await store.batch((b) => {
  for (let i = 0; i < NODES; i++) {
    const { version: _v, createdAt: _c, updatedAt: _u, ...n } = makeNode({ description: { hostname: `node-${i}` } });
    nodeIds.push(n.id);
    b.update((tx) => void tx.nodes.create(n));
  }
  const { version: _v, createdAt: _c, updatedAt: _u, ...s } = svc;
  b.update((tx) => void tx.services.create(s));
});

// 1. The orchestrator creates N tasks.
const ids: string[] = [];
const newTasks = Array.from({ length: N }, (_, i) => {
  const { version: _v, createdAt: _c, updatedAt: _u, ...t } = makeTask({ serviceId: svc.id, slot: i + 1, status: { state: 'pending' } });
  ids.push(t.id);
  return t;
});
const create = await timed(() =>
  store.batch((b) => {
    for (const t of newTasks) b.update((tx) => void tx.tasks.create(t));
  }),
);

// 2. The scheduler assigns every task in one batch, each update re-reading its task.
const schedule = await timed(() =>
  store.batch((b) => {
    ids.forEach((id, i) => {
      b.update((tx) => {
        const t = tx.tasks.get(id)!;
        tx.tasks.update({
          ...t,
          nodeId: nodeIds[i % nodeIds.length]!,
          status: { ...t.status, state: 'assigned', message: 'scheduled' },
        });
      });
    });
  }),
);

// 3. The dispatcher ingests status reports in batches of 1,000, as agents send them.
const states: Task['status']['state'][] = ['accepted', 'preparing', 'starting', 'running'];
const ingest = await timed(async () => {
  let committed = 0;
  for (const state of states) {
    for (let off = 0; off < ids.length; off += 1000) {
      const r = await store.batch((b) => {
        for (const id of ids.slice(off, off + 1000)) {
          b.update((tx) => {
            const t = tx.tasks.get(id)!;
            tx.tasks.update({ ...t, status: { ...t.status, state, timestamp: new Date().toISOString(), containerId: 'c'.repeat(64) } });
          });
        }
      });
      committed += r.committed;
    }
  }
  return committed;
});

// 4. API-style single writes: one update per call, 2,000 in flight (group commit), then one at a time.
const concurrent = await timed(() =>
  Promise.all(
    ids.slice(0, 2000).map((id) =>
      store.update((tx) => {
        const t = tx.tasks.get(id)!;
        tx.tasks.update({ ...t, desiredState: 'shutdown' });
      }),
    ),
  ),
);
const latencies: number[] = [];
for (const id of ids.slice(2000, 3000)) {
  const t0 = performance.now();
  await store.update((tx) => {
    const t = tx.tasks.get(id)!;
    tx.tasks.update({ ...t, desiredState: 'shutdown' });
  });
  latencies.push(performance.now() - t0);
}
latencies.sort((a, b) => a - b);

// 5. Reload: a manager restarting on this file.
await store.close();
const reload = await timed(async () => {
  const s = await Store.open(await openBackend(), { logger: silentLogger, closeBackend: true });
  const n = s.tasks.size;
  await s.close();
  return n;
});

const mem = process.memoryUsage();
console.log(
  JSON.stringify({
    bench: 'store',
    store: values.store,
    tasks: N,
    nodes: NODES,
    createPerSec: rate(N, create.ms),
    createPerCpuSec: rate(N, create.cpuMs),
    schedulePerSec: rate(schedule.value.committed, schedule.ms),
    schedulePerCpuSec: rate(schedule.value.committed, schedule.cpuMs),
    scheduleMs: Math.round(schedule.ms),
    ingestPerSec: rate(ingest.value, ingest.ms),
    ingestPerCpuSec: rate(ingest.value, ingest.cpuMs),
    singleConcurrentPerSec: rate(2000, concurrent.ms),
    singleConcurrentPerCpuSec: rate(2000, concurrent.cpuMs),
    singleSequentialP50Ms: +latencies[500]!.toFixed(3),
    singleSequentialP99Ms: +latencies[990]!.toFixed(3),
    reloadMs: Math.round(reload.ms),
    reloadedTasks: reload.value,
    watchEvents: events,
    rssMB: Math.round(mem.rss / 2 ** 20),
    heapUsedMB: Math.round(mem.heapUsed / 2 ** 20),
    loadAvg: +os.loadavg()[0]!.toFixed(1),
    cpus: os.availableParallelism(),
    errors: create.value.errors.length + schedule.value.errors.length,
  }),
);
if (dir) rmSync(dir, { recursive: true, force: true });
await etcd?.stop();
