/**
 * One stack-sized store transaction — a stack of `--services` services and `--replicas` tasks
 * each created in one `Store.update`, then removed in one — on SQLite and on etcd (etcd's
 * default limits: such a transaction is staged, see src/store/README.md "Large transactions").
 * On etcd it also times until a second Store on the same etcd (another manager) has applied it.
 * Prints one line per backend, the last line one JSON object with both.
 *
 *   node_modules/.bin/node bench/stack-txn.ts [--services 200] [--replicas 3] [--rounds 5] [--etcd HOST:PORT]
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newId } from '../src/lib/ids.ts';
import { silentLogger } from '../src/lib/logger.ts';
import { EtcdBackend } from '../src/store/etcd/etcd-backend.ts';
import { SqliteBackend } from '../src/store/sqlite/sqlite-backend.ts';
import { Store } from '../src/store/store.ts';
import { startEtcd } from '../src/testing/etcd-server.ts';
import { makeServiceSpec, makeTask } from '../src/testing/fixtures.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '200' },
    replicas: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '5' },
    etcd: { type: 'string' },
  },
});
const SERVICES = Number(values.services);
const REPLICAS = Number(values.replicas);
const ROUNDS = Number(values.rounds);

interface Figures {
  /** Median ms of the update creating the stack (resolves once applied to the writer's memory). */
  deployMs: number;
  /** Median ms until a second Store on the same backend has applied it (etcd only). */
  seenByOtherMs?: number;
  /** Median ms of the update removing it. */
  removeMs: number;
  /** For comparison: median ms of the same objects written by `Store.batch` (chunks, not atomic). */
  batchDeployMs: number;
  /** Keys written by one deploy (services, their unique names, tasks). */
  keys: number;
  /** Bytes of JSON written by one deploy. */
  bytes: number;
}

const median = (xs: number[]): number => +[...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);

/** Deploys and removes the stack `ROUNDS` times through `writer`, watching `other` when given. */
async function run(writer: Store, other: Store | undefined): Promise<Figures> {
  const deploy: number[] = [];
  const seen: number[] = [];
  const remove: number[] = [];
  const batched: number[] = [];
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const services = Array.from({ length: SERVICES }, (_, i) => {
      const id = newId();
      const spec = makeServiceSpec({ name: `stack${round}_svc${i}`, labels: { 'com.docker.stack.namespace': `stack${round}` } });
      const tasks = Array.from({ length: REPLICAS }, (_, slot) => {
        const { version: _v, createdAt: _c, updatedAt: _u, ...t } = makeTask({ serviceId: id, serviceName: spec.name, slot: slot + 1, spec: spec.taskTemplate });
        return t;
      });
      return { id, spec, tasks };
    });
    bytes = services.reduce((n, s) => n + JSON.stringify(s.spec).length + s.tasks.reduce((m, t) => m + JSON.stringify(t).length, 0), 0);
    const target = writer.revision + 1;
    const otherSaw = other ? applied(other, target) : undefined;
    const t0 = performance.now();
    await writer.update((tx) => {
      for (const s of services) {
        tx.services.create({ id: s.id, spec: s.spec, specVersion: 1 });
        for (const t of s.tasks) tx.tasks.create(t);
      }
    });
    deploy.push(performance.now() - t0);
    if (otherSaw) seen.push((await otherSaw) - t0);
    const t1 = performance.now();
    await writer.update((tx) => {
      for (const s of services) {
        for (const t of s.tasks) tx.tasks.delete(t.id);
        tx.services.delete(s.id);
      }
    });
    remove.push(performance.now() - t1);
    const t2 = performance.now();
    const r = await writer.batch((b) => {
      for (const s of services) {
        b.update((tx) => {
          tx.services.create({ id: s.id, spec: s.spec, specVersion: 1 });
          for (const t of s.tasks) tx.tasks.create(t);
        });
      }
    });
    batched.push(performance.now() - t2);
    if (r.errors.length > 0) throw r.errors[0]!.error;
    await writer.update((tx) => {
      for (const s of services) {
        for (const t of s.tasks) tx.tasks.delete(t.id);
        tx.services.delete(s.id);
      }
    });
  }
  return {
    deployMs: median(deploy),
    ...(other ? { seenByOtherMs: median(seen) } : {}),
    removeMs: median(remove),
    batchDeployMs: median(batched),
    keys: SERVICES * (2 + REPLICAS),
    bytes,
  };
}

/** When `store` has applied `revision` (performance.now()). */
function applied(store: Store, revision: number): Promise<number> {
  return new Promise((resolve) => {
    const off = store.watch(() => {
      if (store.revision < revision) return;
      off();
      resolve(performance.now());
    });
  });
}

const dir = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
const sqliteStore = await Store.open(await SqliteBackend.open(join(dir, 'state.db')), { logger: silentLogger, closeBackend: true });
const sqlite = await run(sqliteStore, undefined);
await sqliteStore.close();
rmSync(dir, { recursive: true, force: true });
console.log(`sqlite: ${JSON.stringify(sqlite)}`);

const cluster = values.etcd === undefined ? await startEtcd() : undefined;
const endpoints = values.etcd?.split(',') ?? cluster!.endpoints;
const root = `/flotilla-bench/${randomUUID()}`;
const [a, b] = await Promise.all([EtcdBackend.open({ endpoints, root }), EtcdBackend.open({ endpoints, root })]);
const [writer, other] = await Promise.all([
  Store.open(a, { logger: silentLogger, closeBackend: true }),
  Store.open(b, { logger: silentLogger, closeBackend: true }),
]);
const etcd = await run(writer, other);
await Promise.all([writer.close(), other.close()]);
await cluster?.stop();
console.log(`etcd: ${JSON.stringify(etcd)}`);

console.log(
  JSON.stringify({
    bench: 'stack-txn',
    services: SERVICES,
    replicas: REPLICAS,
    rounds: ROUNDS,
    etcdLimits: a.limits,
    sqlite,
    etcd,
    loadAvg: +os.loadavg()[0]!.toFixed(1),
    cpus: os.availableParallelism(),
  }),
);
