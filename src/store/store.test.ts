import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Task } from '../api/task.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { makeNode, makeService, makeServiceSpec, makeTask } from '../testing/fixtures.ts';
import { newId } from '../lib/ids.ts';
import { silentLogger } from '../lib/logger.ts';
import { BackendError, isBackendError, type Backend } from './backend.ts';
import { openMemoryStore } from './memory.ts';
import { SqliteBackend } from './sqlite/sqlite-backend.ts';
import { Store, isStoreError, type StoreEvent } from './store.ts';
import type { NewObject } from './tables.ts';

/** Drops the fields the store fills in, so a fixture can be passed to `create`. */
function fresh<T extends { version: number; createdAt: string; updatedAt: string }>(o: T): NewObject<T> {
  const { version: _v, createdAt: _c, updatedAt: _u, ...rest } = o;
  return rest as unknown as NewObject<T>;
}

async function open(clock = new FakeClock()): Promise<Store> {
  return openMemoryStore({ clock, logger: silentLogger });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isStoreError(e), `expected a StoreError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  });
}

void describe('Store', () => {
  void it('creates objects with version, timestamps and indexes', async () => {
    const clock = new FakeClock();
    const store = await open(clock);
    const svc = makeService({ id: newId(), spec: makeServiceSpec({ name: 'web' }) });
    const n1 = makeNode();
    const n2 = makeNode();
    const created = await store.update((tx) => {
      tx.nodes.create(fresh(n1));
      tx.nodes.create(fresh(n2));
      const s = tx.services.create(fresh(svc));
      for (let slot = 1; slot <= 4; slot++) {
        tx.tasks.create(fresh(makeTask({ serviceId: svc.id, slot, nodeId: slot % 2 ? n1.id : n2.id })));
      }
      assert.equal(tx.tasks.byService(svc.id).length, 4, 'tx sees its own writes through indexes');
      return s;
    });
    assert.equal(created.version, store.revision, 'returned object is the committed one');
    assert.equal(created.createdAt, new Date(clock.now()).toISOString());
    assert.ok(Object.isFrozen(created) && Object.isFrozen(created.spec.taskTemplate.container));
    assert.equal(store.services.byName('web')?.id, svc.id);
    assert.equal(store.tasks.byService(svc.id).length, 4);
    assert.equal(store.tasks.byNode(n1.id).length, 2);
    assert.equal(store.tasks.byDesiredState('running').length, 4);
    assert.equal(store.nodes.all().length, 2);
    await store.close();
  });

  void it('updates move indexes and keep createdAt; stale versions conflict', async () => {
    const clock = new FakeClock();
    const store = await open(clock);
    const n1 = makeNode();
    const n2 = makeNode();
    const t = makeTask({ nodeId: n1.id });
    await store.update((tx) => {
      tx.nodes.create(fresh(n1));
      tx.nodes.create(fresh(n2));
      tx.tasks.create(fresh(t));
    });
    const v1 = store.tasks.get(t.id)!;
    await clock.advance(1000);
    const v2 = await store.update((tx) => tx.tasks.update({ ...v1, nodeId: n2.id }));
    assert.ok(v2.version > v1.version);
    assert.equal(v2.createdAt, v1.createdAt);
    assert.notEqual(v2.updatedAt, v1.updatedAt);
    assert.deepEqual(store.tasks.byNode(n1.id), []);
    assert.deepEqual(store.tasks.byNode(n2.id).map((x) => x.id), [t.id]);
    await rejectsWith(store.update((tx) => tx.tasks.update({ ...v1, desiredState: 'shutdown' })), 'conflict');
    await rejectsWith(store.update((tx) => tx.tasks.update({ ...v2, id: 'nope' })), 'not_found');
    await rejectsWith(store.update((tx) => tx.tasks.delete('nope')), 'not_found');
    await rejectsWith(store.update((tx) => tx.tasks.create(fresh(v2))), 'already_exists');
    assert.equal(store.tasks.get(t.id)?.version, v2.version, 'failed writes change nothing');
    await store.close();
  });

  void it('detects a race the in-memory check cannot see (same tick, same object)', async () => {
    const store = await open();
    const t = makeTask();
    await store.update((tx) => tx.tasks.create(fresh(t)));
    const cur = store.tasks.get(t.id)!;
    const a = store.update((tx) => tx.tasks.update({ ...cur, desiredState: 'shutdown' }));
    const b = store.update((tx) => tx.tasks.update({ ...cur, desiredState: 'remove' }));
    await a;
    await rejectsWith(b, 'conflict');
    assert.equal(store.tasks.get(t.id)?.desiredState, 'shutdown');
    await store.close();
  });

  void it('keeps service names unique, also against a racing create, and frees them on rename/delete', async () => {
    const store = await open();
    const a = makeService({ id: newId(), spec: makeServiceSpec({ name: 'web' }) });
    const b = makeService({ id: newId(), spec: makeServiceSpec({ name: 'web' }) });
    const p1 = store.update((tx) => tx.services.create(fresh(a)));
    const p2 = store.update((tx) => tx.services.create(fresh(b))); // passes the memory check
    await p1;
    await rejectsWith(p2, 'already_exists');
    await rejectsWith(store.update((tx) => tx.services.create(fresh(b))), 'already_exists');
    const cur = store.services.get(a.id)!;
    await store.update((tx) => tx.services.update({ ...cur, spec: { ...cur.spec, name: 'api' } }));
    assert.equal(store.services.byName('web'), undefined);
    assert.equal(store.services.byName('api')?.id, a.id);
    await store.update((tx) => tx.services.create(fresh(b))); // "web" is free again
    await store.update((tx) => tx.services.delete(a.id));
    await store.update((tx) => tx.services.create(fresh(makeService({ id: newId(), spec: makeServiceSpec({ name: 'api' }) }))));
    assert.equal(store.services.all().length, 2);
    await store.close();
  });

  void it('lets two services swap names in one transaction', async () => {
    const store = await open();
    const a = makeService({ id: newId(), spec: makeServiceSpec({ name: 'a' }) });
    const b = makeService({ id: newId(), spec: makeServiceSpec({ name: 'b' }) });
    await store.update((tx) => {
      tx.services.create(fresh(a));
      tx.services.create(fresh(b));
    });
    await store.update((tx) => {
      const sa = tx.services.get(a.id)!;
      const sb = tx.services.get(b.id)!;
      tx.services.update({ ...sa, spec: { ...sa.spec, name: 'tmp' } });
      tx.services.update({ ...sb, spec: { ...sb.spec, name: 'a' } });
      const sa2 = tx.services.get(a.id)!;
      tx.services.update({ ...sa2, spec: { ...sa2.spec, name: 'b' } });
    });
    assert.equal(store.services.byName('a')?.id, b.id);
    assert.equal(store.services.byName('b')?.id, a.id);
    await rejectsWith(store.update((tx) => tx.services.create(fresh(makeService({ id: newId(), spec: makeServiceSpec({ name: 'b' }) })))), 'already_exists');
    await store.close();
  });

  void it('rejects misuse with invalid', async () => {
    const store = await open();
    await rejectsWith(store.update((tx) => tx.tasks.create(fresh(makeTask({ id: 'a/b' })))), 'invalid');
    // async callbacks type-check (R may be a promise) but are refused at run time
    await rejectsWith(store.update(async (tx) => tx.tasks.all()), 'invalid');
    let leaked: unknown;
    await store.update((tx) => {
      leaked = tx;
    });
    assert.throws(
      () => (leaked as { tasks: { create(o: unknown): void } }).tasks.create(fresh(makeTask())),
      (e: unknown) => isStoreError(e) && e.code === 'invalid',
    );
    assert.throws(() => store.tasks.by('nope', 'x'), (e: unknown) => isStoreError(e) && e.code === 'invalid');
    await store.close();
  });

  void it('batch: commits in chunks, skips a throwing sub-update, later ones see earlier ones', async () => {
    const store = await open();
    const svc = makeService();
    await store.update((tx) => tx.services.create(fresh(svc)));
    const revBefore = store.revision;
    const result = await store.batch((b) => {
      for (let i = 0; i < 2500; i++) {
        b.update((tx) => {
          tx.tasks.create(fresh(makeTask({ id: `t${i}`, serviceId: svc.id, slot: i + 1 })));
          if (i === 1234) throw new Error('boom');
        });
      }
      b.update((tx) => {
        // sees every earlier create, including ones from earlier chunks
        const n = tx.tasks.byService(svc.id).length;
        if (n !== 2499) throw new Error(`saw ${n}`);
      });
    });
    assert.equal(result.committed, 2500);
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0]!.index, 1234);
    assert.equal(result.errors[0]!.error.message, 'boom');
    assert.equal(store.tasks.get('t1234'), undefined);
    assert.equal(store.tasks.byService(svc.id).length, 2499);
    assert.equal(store.revision - revBefore, 3, '2499 creates in 3 commits of ≤1000');
    await store.close();
  });

  void it('batch: a chunk that loses a race is retried update by update', async () => {
    const store = await open();
    const tasks: Task[] = [];
    await store.update((tx) => {
      for (let i = 0; i < 10; i++) tasks.push(tx.tasks.create(fresh(makeTask({ id: `t${i}` }))));
    });
    const committed = tasks.map((t) => store.tasks.get(t.id)!);
    // Same tick: this update commits first and makes the batch's view of t3 stale.
    const racer = store.update((tx) => tx.tasks.update({ ...committed[3]!, desiredState: 'shutdown' }));
    const batch = store.batch((b) => {
      for (const t of committed) {
        if (t.id === 't3') {
          // a captured object the racer made stale: conflicts on retry too
          b.update((tx) => void tx.tasks.update({ ...t, nodeId: 'n1' }));
        } else {
          // re-reads through tx: succeeds on retry with fresh data
          b.update((tx) => void tx.tasks.update({ ...tx.tasks.get(t.id)!, nodeId: 'n1' }));
        }
      }
      b.update((tx) => void tx.tasks.update({ ...tx.tasks.get('t5')!, slot: 9 }));
    });
    await racer;
    const result = await batch;
    assert.deepEqual(
      result.errors.map((e) => [e.index, isStoreError(e.error) && e.error.code]),
      [[3, 'conflict']],
    );
    assert.equal(result.committed, 10);
    assert.equal(store.tasks.get('t3')?.desiredState, 'shutdown', "the racer's write survives");
    assert.equal(store.tasks.get('t3')?.nodeId, undefined);
    assert.equal(store.tasks.get('t4')?.nodeId, 'n1');
    assert.equal(store.tasks.get('t5')?.nodeId, 'n1');
    assert.equal(store.tasks.get('t5')?.slot, 9);
    await store.close();
  });

  void it('watch: synchronous per-object events with old objects, filtered by kind', async () => {
    const store = await open();
    const all: StoreEvent[] = [];
    const tasksOnly: StoreEvent[] = [];
    store.watch((ev) => all.push(ev));
    const off = store.watch((ev) => tasksOnly.push(ev), { kinds: ['task'] });
    store.watch(() => {
      throw new Error('a broken listener does not stop the others');
    });
    const n = makeNode();
    const t = makeTask();
    await store.update((tx) => {
      tx.nodes.create(fresh(n));
      tx.tasks.create(fresh(t));
    });
    assert.deepEqual(
      all.map((e) => [e.kind, e.action, e.object.id, e.revision]),
      [
        ['node', 'create', n.id, store.revision],
        ['task', 'create', t.id, store.revision],
      ],
    );
    const cur = store.tasks.get(t.id)!;
    await store.update((tx) => tx.tasks.update({ ...cur, desiredState: 'shutdown' }));
    const upd = all.at(-1)!;
    assert.equal(upd.action, 'update');
    assert.equal(upd.old, cur);
    assert.equal(upd.object, store.tasks.get(t.id));
    off();
    await store.update((tx) => tx.tasks.delete(t.id));
    assert.equal(all.at(-1)!.action, 'delete');
    assert.equal(all.at(-1)!.object.id, t.id);
    assert.deepEqual(tasksOnly.map((e) => e.action), ['create', 'update']);
    await store.close();
  });

  void it('changesSince replays history, then fails compacted when too old', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-store-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const backend = SqliteBackend.open(join(dir, 'state.db'));
    const store = await Store.open(backend, { clock: new FakeClock(), logger: silentLogger, closeBackend: true });
    const t = makeTask();
    await store.update((tx) => tx.tasks.create(fresh(t)));
    const r1 = store.revision;
    await store.update((tx) => tx.tasks.update({ ...tx.tasks.get(t.id)!, desiredState: 'shutdown' }));
    await store.update((tx) => tx.tasks.delete(t.id));
    const seen = await new Promise<StoreEvent[]>((resolve, reject) => {
      const got: StoreEvent[] = [];
      const h = store.changesSince(0, (ev) => {
        got.push(ev);
        if (got.length === 3) {
          h.close();
          resolve(got);
        }
      }, reject);
    });
    assert.deepEqual(seen.map((e) => e.action), ['create', 'update', 'delete']);
    assert.equal(seen[1]!.old, undefined, 'replayed updates carry no old object');
    assert.equal((seen[1]!.object as Task).desiredState, 'shutdown');
    assert.equal(seen[2]!.object.version, seen[1]!.revision, 'a replayed delete carries the deleted object');
    await backend.compact(r1);
    const err = await new Promise<Error>((resolve) => store.changesSince(0, () => {}, resolve));
    assert.ok(isBackendError(err) && err.code === 'compacted');
    await store.close();
  });

  void it('reopening the same sqlite file gives the same state and versions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-store-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'state.db');
    const opts = { clock: new FakeClock(), logger: silentLogger, closeBackend: true };
    const s1 = await Store.open(SqliteBackend.open(path), opts);
    const svc = makeService({ id: newId(), spec: makeServiceSpec({ name: 'db' }) });
    await s1.update((tx) => tx.services.create(fresh(svc)));
    await s1.batch((b) => {
      for (let i = 0; i < 50; i++) b.update((tx) => void tx.tasks.create(fresh(makeTask({ serviceId: svc.id }))));
    });
    const gone = s1.tasks.all()[0]!;
    await s1.update((tx) => tx.tasks.delete(gone.id));
    const snapshot = { rev: s1.revision, services: s1.services.all(), tasks: s1.tasks.all() };
    await s1.close();

    const s2 = await Store.open(SqliteBackend.open(path), opts);
    assert.equal(s2.revision, snapshot.rev);
    const byId = <T extends { id: string }>(xs: T[]): T[] => [...xs].sort((a, b) => a.id.localeCompare(b.id));
    assert.deepEqual(byId(s2.services.all()), byId(snapshot.services));
    assert.deepEqual(byId(s2.tasks.all()), byId(snapshot.tasks));
    assert.equal(s2.tasks.byService(svc.id).length, 49);
    await rejectsWith(s2.update((tx) => tx.services.create(fresh(makeService({ id: newId(), spec: makeServiceSpec({ name: 'db' }) })))), 'already_exists');
    await s2.close();
  });

  void it('fails closed after close', async () => {
    const store = await open();
    await store.close();
    await store.close();
    await rejectsWith(store.update(() => 1), 'closed');
    await rejectsWith(store.batch(() => {}), 'closed');
  });

  void it('cuts batches to a backend\'s limits, and commits a chunk refused too_large callback by callback', async () => {
    const inner = SqliteBackend.open(':memory:');
    const sizes: number[] = [];
    const limited: Backend = {
      name: 'limited',
      limits: { maxOps: 10, maxBytes: 4_000 },
      range: (p) => inner.range(p),
      watch: (f, b, e) => inner.watch(f, b, e),
      compact: (r) => inner.compact(r),
      compactedRevision: () => inner.compactedRevision(),
      close: () => inner.close(),
      txn: async (c, ops) => {
        const bytes = ops.reduce((n, op) => n + op.key.length + (op.type === 'put' ? op.value.length : 0), 0);
        if (ops.length > 10 || bytes > 4_000) throw new BackendError('too_large', `${ops.length} ops, ${bytes} bytes`);
        sizes.push(ops.length);
        return inner.txn(c, ops);
      },
    };
    const store = await Store.open(limited, { logger: silentLogger, closeBackend: true });
    const r = await store.batch((b) => {
      for (let i = 0; i < 23; i++) b.update((tx) => void tx.nodes.create(fresh(makeNode())));
    });
    assert.deepEqual(r, { committed: 23, errors: [] });
    assert.deepEqual(sizes, [5, 5, 5, 5, 3], 'at most maxOps / 2 objects per commit');
    sizes.length = 0;
    const big = 'x'.repeat(1_500);
    const r2 = await store.batch((b) => {
      for (let i = 0; i < 3; i++) b.update((tx) => void tx.nodes.create(fresh(makeNode({ spec: { labels: { big } } }))));
    });
    assert.deepEqual(r2, { committed: 3, errors: [] });
    assert.deepEqual(sizes, [1, 1, 1], 'a chunk too large in bytes goes one callback at a time');
    assert.equal(store.nodes.all().length, 26);
    await store.close();
  });
});
