/**
 * Scheduler benchmark: 5,000 nodes, 50,000 tasks, on a SQLite store in a file (default) or on
 * etcd (`--store etcd`: the real Store on the `EtcdBackend`; a private 3-member etcd cluster on
 * loopback, or the cluster `--etcd HOST:PORT[,…]` names, under a fresh root prefix).
 *
 * Registers the nodes, starts the real `Scheduler`, then submits services and their tasks as
 * `pending` in batches, the way the orchestrator and allocator write them, and measures from
 * the first submission until every task is `assigned` and committed. Progress goes to stdout;
 * the last line is one JSON object:
 *   {"store","nodes","tasks","seconds","placementsPerSec","schedulerCommits","rssMB"[,"etcdMembers"]}
 * On etcd the anchor is Nomad's million-container run (C2M, 2020): 3,750 placements/s on average.
 *
 *   npm run bench:scheduler     (or: node bench/scheduler.ts [--nodes N] [--tasks N] [--after-submit]
 *                                       [--store sqlite|etcd] [--etcd HOST:PORT[,…]] [--etcd-members 3])
 *
 * `--after-submit` starts the scheduler only once every task is pending and times it alone
 * (on etcd the submission and the scheduler otherwise share the one commit pipeline).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Node } from '../src/api/node.ts';
import type { ServiceSpec } from '../src/api/service.ts';
import { validateServiceSpec } from '../src/api/validate.ts';
import type { Task } from '../src/api/task.ts';
import { systemClock } from '../src/lib/clock.ts';
import { newId } from '../src/lib/ids.ts';
import { createLogger } from '../src/lib/logger.ts';
import { Scheduler } from '../src/manager/scheduler/scheduler.ts';
import { randomUUID } from 'node:crypto';
import type { Backend } from '../src/store/backend.ts';
import { connect } from '../src/store/etcd/connect.ts';
import { EtcdBackend } from '../src/store/etcd/etcd-backend.ts';
import { SqliteBackend } from '../src/store/sqlite/sqlite-backend.ts';
import { Store } from '../src/store/store.ts';
import { startEtcd, type EtcdTestCluster } from '../src/testing/etcd-server.ts';

const { values: args } = parseArgs({
  options: {
    nodes: { type: 'string', default: '5000' },
    tasks: { type: 'string', default: '50000' },
    /** Tasks per store.batch when submitting. */
    chunk: { type: 'string', default: '1000' },
    /** Start the scheduler only once every task is pending, and time its work alone. */
    'after-submit': { type: 'boolean', default: false },
    /** Where the store lives: a SQLite file, or etcd. */
    store: { type: 'string', default: 'sqlite' },
    /** An existing etcd cluster's client endpoints (otherwise a private one is started). */
    etcd: { type: 'string' },
    /** Members of the private etcd cluster. */
    'etcd-members': { type: 'string', default: '3' },
  },
});
if (args.store !== 'sqlite' && args.store !== 'etcd') throw new Error(`--store sqlite|etcd, not ${args.store}`);
const STORE = args.store;
const NODES = Number(args.nodes);
const TASKS = Number(args.tasks);
const CHUNK = Number(args.chunk);
const CPU = 1e9;
const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Deterministic pseudo-random numbers (mulberry32), so every run submits the same cluster. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = rng(42);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function makeNode(i: number): Omit<Node, 'version' | 'createdAt' | 'updatedAt'> {
  const cores = pick([2, 4, 8, 16, 32, 64]);
  const gib = Math.min(256, Math.max(4, cores * pick([2, 4, 8])));
  return {
    id: newId(),
    spec: { role: 'worker', availability: 'active', labels: { zone: pick(['a', 'b', 'c']), disk: pick(['ssd', 'hdd']) } },
    description: {
      hostname: `node-${String(i).padStart(4, '0')}`,
      platform: { os: 'linux', arch: 'x86_64' },
      resources: { nanoCpus: cores * CPU, memoryBytes: gib * GIB },
      drivers: ['docker'],
      engine: { name: 'docker', version: '20.10' },
    },
    status: { state: 'ready', addr: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, message: '' },
  };
}

function makeSpec(k: number, replicas: number): ServiceSpec {
  const reserve = random() < 0.5;
  const constraints = random() < 0.35 ? [pick(['node.labels.zone==a', 'node.labels.disk==ssd', 'node.labels.zone!=c'])] : [];
  return validateServiceSpec({
    name: `svc-${k}`,
    replicas,
    taskTemplate: {
      container: { image: 'flotilla/busybox:test', command: ['sleep', '3600'] },
      resources: {
        reservations: reserve ? { nanoCpus: pick([0.1, 0.25, 0.5, 1]) * CPU, memoryBytes: pick([64, 128, 256, 512]) * MIB } : {},
      },
      placement: { constraints, maxReplicasPerNode: random() < 0.1 ? 2 : 0 },
    },
  });
}

/** The backend `--store` names, and how to release what it took. */
async function openBackend(dir: string): Promise<{ backend: Backend; members: number | undefined; release(): Promise<void> }> {
  if (STORE === 'sqlite') {
    const backend = SqliteBackend.open(join(dir, 'store.db'));
    return { backend, members: undefined, release: () => backend.close() };
  }
  let etcd: EtcdTestCluster | undefined;
  if (args.etcd === undefined) {
    const t = performance.now();
    etcd = await startEtcd({ members: Number(args['etcd-members']) });
    log(`etcd: ${etcd.members.length} members on ${etcd.endpoints.join(',')} in ${((performance.now() - t) / 1000).toFixed(2)} s`);
  }
  const endpoints = args.etcd?.split(',') ?? [...etcd!.endpoints];
  try {
    // A fresh prefix: an existing cluster keeps whatever else it holds.
    const root = `/flotilla-bench/${randomUUID()}`;
    const backend = await EtcdBackend.open({ endpoints, root });
    return {
      backend,
      members: endpoints.length,
      async release() {
        await backend.close();
        // On a cluster we did not start, leave nothing of ours behind (with a client of its own:
        // the backend's watch must not be fed the deletes while it closes).
        if (!etcd) {
          const client = connect({ endpoints });
          await client.delete().prefix(`${root}/`).catch(() => undefined);
          client.close();
        }
        await etcd?.stop();
      },
    };
  } catch (err) {
    await etcd?.stop();
    throw err;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  const { backend, members, release } = await openBackend(dir);
  const store = await Store.open(backend, { clock: systemClock });
  const logger = createLogger({ level: process.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' });
  try {
    let t0 = performance.now();
    for (let i = 0; i < NODES; i += CHUNK) {
      const n = Math.min(CHUNK, NODES - i);
      await store.batch((b) => {
        for (let k = 0; k < n; k++) {
          const node = makeNode(i + k);
          b.update((tx) => tx.nodes.create(node));
        }
      });
    }
    log(`registered ${store.nodes.all().length} nodes in ${((performance.now() - t0) / 1000).toFixed(2)} s`);

    // Service sizes: a mix of small and large, adding up to exactly TASKS.
    const sizes: number[] = [];
    for (let left = TASKS; left > 0; ) {
      const n = Math.min(left, pick([10, 25, 50, 100, 200, 500, 1000]));
      sizes.push(n);
      left -= n;
    }

    let assigned = 0;
    /** Store revisions that assigned tasks: the scheduler's commits. */
    const commits = new Set<number>();
    let done: () => void = () => {};
    const finished = new Promise<void>((resolve) => (done = resolve));
    const unwatch = store.watch(
      (ev) => {
        const t = ev.object as Task;
        const old = ev.old as Task | undefined;
        if (ev.action === 'update' && t.status.state === 'assigned' && old?.status.state === 'pending') {
          assigned++;
          commits.add(ev.revision);
          if (assigned === TASKS) done();
        }
      },
      { kinds: ['task'] },
    );
    const scheduler = new Scheduler({ store, clock: systemClock, logger });
    const afterSubmit = args['after-submit'];
    if (!afterSubmit) await scheduler.start();

    t0 = performance.now();
    let cpu0 = process.cpuUsage();
    let submitted = 0;
    const progress = setInterval(() => {
      const s = (performance.now() - t0) / 1000;
      log(`${s.toFixed(1)} s: ${submitted} submitted, ${assigned} assigned (${scheduler.stats.passes} passes)`);
    }, 500);
    for (const [k, size] of sizes.entries()) {
      const spec = makeSpec(k, size);
      const serviceId = newId();
      await store.update((tx) => tx.services.create({ id: serviceId, spec, specVersion: 1 }));
      for (let slot = 1; slot <= size; slot += CHUNK) {
        const last = Math.min(size, slot + CHUNK - 1);
        const now = new Date().toISOString();
        await store.batch((b) => {
          for (let s = slot; s <= last; s++) {
            const task: Omit<Task, 'version' | 'createdAt' | 'updatedAt'> = {
              id: newId(),
              serviceId,
              serviceName: spec.name,
              slot: s,
              specVersion: 1,
              spec: spec.taskTemplate,
              ports: [],
              desiredState: 'running',
              status: { state: 'pending', timestamp: now, message: '' },
            };
            b.update((tx) => tx.tasks.create(task));
          }
        });
        submitted += last - slot + 1;
      }
    }
    const submitSeconds = (performance.now() - t0) / 1000;
    log(`submitted ${submitted} tasks of ${sizes.length} services in ${submitSeconds.toFixed(2)} s`);
    if (afterSubmit) {
      // Time the scheduler alone: from its start (a burst of TASKS pending tasks) to the end.
      t0 = performance.now();
      cpu0 = process.cpuUsage();
      await scheduler.start();
    }
    await finished;
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(progress);
    unwatch();
    await scheduler.stop();
    const cpu = process.cpuUsage(cpu0);
    log(
      `all ${assigned} tasks assigned and committed in ${seconds.toFixed(2)} s ` +
        `${afterSubmit ? 'after the scheduler started' : 'from the first submission'} ` +
        `(${scheduler.stats.passes} passes; process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s)`,
    );
    check(store.nodes.all(), store.tasks.all());
    const rssMB = Math.round(process.memoryUsage().rss / MIB);
    const placementsPerSec = Math.round(TASKS / seconds);
    if (STORE === 'etcd') log(`anchor: Nomad's million-container run committed 3,750 placements/s; this run ${(placementsPerSec / 3750).toFixed(2)}x that`);
    log(
      JSON.stringify({
        store: STORE,
        ...(members !== undefined ? { etcdMembers: members } : {}),
        nodes: NODES,
        tasks: TASKS,
        seconds: round(seconds),
        placementsPerSec,
        schedulerCommits: commits.size,
        rssMB,
      }),
    );
  } finally {
    await store.close();
    await release();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sanity: every task placed, no node over its CPU or memory. */
function check(nodes: readonly Node[], tasks: readonly Task[]): void {
  const cpu = new Map<string, number>();
  const mem = new Map<string, number>();
  let unplaced = 0;
  for (const t of tasks) {
    if (t.nodeId === undefined) {
      unplaced++;
      continue;
    }
    cpu.set(t.nodeId, (cpu.get(t.nodeId) ?? 0) + t.spec.resources.reservations.nanoCpus);
    mem.set(t.nodeId, (mem.get(t.nodeId) ?? 0) + t.spec.resources.reservations.memoryBytes);
  }
  const over = nodes.filter(
    (n) => (cpu.get(n.id) ?? 0) > n.description.resources.nanoCpus || (mem.get(n.id) ?? 0) > n.description.resources.memoryBytes,
  ).length;
  const used = nodes.filter((n) => cpu.has(n.id)).length;
  log(`check: ${unplaced} unplaced, ${over} nodes over-committed, ${used} of ${nodes.length} nodes in use`);
  if (unplaced > 0 || over > 0) process.exitCode = 1;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

await main();
