import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { makeNode } from '../../testing/fixtures.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../../testing/etcd-server.ts';
import { isBackendError, type Op, type WatchBatch } from '../backend.ts';
import { Store, type StoreEvent } from '../store.ts';
import { EtcdBackend, type EtcdBackendOptions } from './etcd-backend.ts';
import { Layout } from './layout.ts';
import { decodePayload, encodePayload, packOps, payloadEvents, rollForwardOps, type StagedEntry } from './staged.ts';
import { collectFirst } from '../../testing/collect.ts';

const skip = skipUnlessEtcd();
const put = (key: string, value: string): Op => ({ type: 'put', key, value });
const nodeKey = (id: string): string => `/flotilla/nodes/${id}`;

let etcd: EtcdTestCluster | undefined;

/**
 * Store transactions larger than one etcd txn (etcd's default limits: 128 ops, 1.5 MiB) are
 * staged and committed at once: readers see all of one or none of it, at one revision.
 */
void describe('etcd backend: large transactions', { skip }, () => {
  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    await etcd?.stop();
  });

  const open = (o: Partial<EtcdBackendOptions> = {}): Promise<EtcdBackend> =>
    EtcdBackend.open({ endpoints: etcd!.endpoints, root: o.root ?? `/flotilla-test/${randomUUID()}`, ...o });

  /** etcd keys under `<root>/<sub>` (staged chunks, the commit record, value parts), read directly. */
  const raw = async (b: EtcdBackend, sub: string): Promise<string[]> => b.client.getAll().prefix(`${b.root}/${sub}`).keys();

  void it('a Store.update creating 500 objects commits at one revision; another Store sees it whole, its watch as one revision', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const [wb, rb] = await Promise.all([open({ root }), open({ root })]);
    const [writer, reader] = await Promise.all([Store.open(wb, { closeBackend: true }), Store.open(rb, { closeBackend: true })]);
    after(() => Promise.all([writer.close(), reader.close()]));
    const seen: StoreEvent[] = [];
    const revisions = new Set<number>();
    const sizes = new Set<number>();
    const all = new Promise<void>((resolve) => {
      reader.watch((ev) => {
        seen.push(ev);
        revisions.add(ev.revision);
        // All 500 arrive in one synchronous delivery: the table is complete at the first event.
        sizes.add(reader.nodes.all().length);
        if (seen.length === 500) resolve();
      });
    });
    const ids = Array.from({ length: 500 }, (_, i) => `n${String(i).padStart(4, '0')}`);
    await writer.update((tx) => {
      for (const id of ids) tx.nodes.create(makeNode({ id }));
    });
    assert.equal(writer.revision, 1);
    await all;
    assert.deepEqual([...revisions], [1]);
    assert.deepEqual([...sizes], [500], 'a reader never sees part of the transaction');
    assert.equal(reader.revision, 1);
    assert.deepEqual(reader.nodes.all().map((n) => n.id).sort(), ids);
    // The roll-forward goes on after the commit resolved; then the staging is removed.
    await until(async () => (await raw(wb, 'meta/commit')).length === 0 && (await raw(wb, 'staged/')).length === 0, 'rolled forward');
    assert.equal((await raw(wb, 'data/')).length, 500);
    // A third store loads it from the data keys, and history replays it as one revision.
    const third = await Store.open(await open({ root }), { closeBackend: true });
    after(() => third.close());
    assert.equal(third.nodes.all().length, 500);
    const replayed = await collectEvents(third, 0, 500);
    assert.deepEqual([...new Set(replayed.map((e) => e.revision))], [1]);
    assert.ok(replayed.every((e) => e.action === 'create'));
    // Deleting them all is one revision too, and history carries every deleted object.
    await writer.update((tx) => {
      for (const id of ids) tx.nodes.delete(id);
    });
    assert.equal(writer.nodes.all().length, 0);
    const deleted = await collectEvents(third, 1, 500);
    assert.deepEqual([...new Set(deleted.map((e) => e.revision))], [2]);
    assert.ok(deleted.every((e) => e.action === 'delete' && e.object.id.startsWith('n')));
  });

  void it('a batch of thousands commits, and another Store sees all of it', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const [writer, reader] = await Promise.all([
      Store.open(await open({ root }), { closeBackend: true }),
      Store.open(await open({ root }), { closeBackend: true }),
    ]);
    after(() => Promise.all([writer.close(), reader.close()]));
    const r = await writer.batch((b) => {
      for (let i = 0; i < 3_000; i++) b.update((tx) => tx.nodes.create(makeNode({ id: `b${i}` })));
    });
    assert.deepEqual(r, { committed: 3_000, errors: [] });
    await untilRevision(reader, writer.revision);
    assert.equal(reader.nodes.all().length, 3_000);
  });

  void it('a compare that fails at the commit point leaves nothing, and the staging is removed', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const other = await open({ root });
    after(() => other.close());
    let raced = false;
    const b: EtcdBackend = await open({
      root,
      // Between staging and the commit txn, another writer changes a key the txn compares, and
      // the writer's own watch has applied that before it sends its commit.
      stagedStepForTest: async (step) => {
        if (step !== 'staged' || raced) return;
        raced = true;
        const seen = collectBatches(b, 0, 1);
        assert.ok((await other.txn([], [put('/k', 'theirs')])).succeeded);
        await seen;
      },
    });
    after(() => b.close());
    const many = Array.from({ length: 300 }, (_, i) => put(`/many/${i}`, 'v'));
    const r = await b.txn([{ key: '/k', modRevision: 0 }], [put('/k', 'ours'), ...many]);
    assert.equal(r.succeeded, false);
    assert.deepEqual(r.failed, { key: '/k', modRevision: 0 });
    const kvs = (await other.range('')).kvs;
    assert.deepEqual(kvs.map((kv) => [kv.key, kv.value]), [['/k', 'theirs']]);
    assert.deepEqual(await raw(b, 'staged/'), []);
  });

  void it('a staging whose lease expired before its commit is staged again, and commits once', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    let stagings = 0;
    const b = await open({
      root,
      stagingLeaseSeconds: 1,
      // The first time, stall until the staging's header is gone with its lease.
      stagedStepForTest: async (step) => {
        if (step !== 'staged' || ++stagings > 1) return;
        await until(async () => (await rawOf(root, 'staged/')).every((k) => /\/staged\/[0-9a-f]+\/\d+$/.test(k)), 'the lease expires');
      },
    });
    after(() => b.close());
    const ops = Array.from({ length: 200 }, (_, i) => put(`/e/${i}`, 'v'));
    assert.deepEqual(await b.txn([], ops), { succeeded: true, revision: 1 });
    assert.equal(stagings, 2);
    assert.equal((await b.range('/e/')).kvs.length, 200);
    await until(async () => (await rawOf(root, 'staged/')).length === 0, 'the stagings are removed');
  });

  void it('a writer that dies between staging and commit leaves nothing visible; its staging is cleaned', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const crash = new Error('killed while staging');
    const dying = await open({ root, stagingLeaseSeconds: 1, stagedStepForTest: (step) => (step === 'staged' ? Promise.reject(crash) : undefined) });
    const watcher = await Store.open(await open({ root }), { closeBackend: true });
    after(() => watcher.close());
    const seen: StoreEvent[] = [];
    watcher.watch((ev) => seen.push(ev));
    const ops = Array.from({ length: 300 }, (_, i) => put(nodeKey(`d${i}`), JSON.stringify(makeNode({ id: `d${i}` }))));
    await assert.rejects(dying.txn([], ops), (e: unknown) => e === crash);
    assert.notDeepEqual(await raw(dying, 'staged/'), [], 'the staging is there');
    await dying.close();
    // Its header lives on its lease for a second; then the chunks are garbage.
    await until(async () => (await rawOf(root, 'staged/')).every((k) => /\/staged\/[0-9a-f]+\/\d+$/.test(k)), 'the header expires');
    const next = await open({ root });
    after(() => next.close());
    assert.deepEqual(await raw(next, 'staged/'), [], "opened: the dead writer's staging is removed");
    assert.deepEqual((await next.range('')).kvs, []);
    assert.equal(watcher.nodes.all().length, 0);
    assert.deepEqual(seen, []);
    assert.ok((await next.txn([], [put('/after', 'x')])).succeeded);
    assert.equal((await next.txn([], [put('/after', 'y')])).revision, 2);
  });

  void it('a writer that dies after the commit txn: readers see it whole, and the next backend rolls it forward', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const crash = new Error('killed after commit');
    const dying = await open({ root, stagedStepForTest: (step) => (step === 'committed' ? Promise.reject(crash) : undefined) });
    const ops = Array.from({ length: 300 }, (_, i) => put(nodeKey(`c${i}`), JSON.stringify(makeNode({ id: `c${i}` }))));
    await assert.rejects(dying.txn([], ops), (e: unknown) => e === crash);
    await dying.close();
    assert.deepEqual(await rawOf(root, 'meta/commit'), [`${root}/meta/commit`], 'the commit record is there, not rolled forward');
    const next = await open({ root }); // opening finishes it
    after(() => next.close());
    const store = await Store.open(next);
    after(() => store.close());
    assert.equal(store.revision, 1);
    assert.equal(store.nodes.all().length, 300);
    assert.deepEqual(await raw(next, 'meta/commit'), []);
    assert.deepEqual(await raw(next, 'staged/'), []);
    assert.equal((await raw(next, 'data/')).length, 300, 'the data keys hold it');
    await store.update((tx) => tx.nodes.delete('c0'));
    assert.equal(store.revision, 2);
  });

  void it('a writer that dies after the commit txn: the next write through another live backend finishes it first', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const crash = new Error('killed after commit');
    const live = await Store.open(await open({ root }), { closeBackend: true });
    after(() => live.close());
    const dying = await open({ root, stagedStepForTest: (step) => (step === 'committed' ? Promise.reject(crash) : undefined) });
    const ops = Array.from({ length: 300 }, (_, i) => put(nodeKey(`l${i}`), JSON.stringify(makeNode({ id: `l${i}` }))));
    const seen = untilRevision(live, 1);
    await assert.rejects(dying.txn([], ops), (e: unknown) => e === crash);
    await dying.close();
    await seen;
    assert.equal(live.nodes.all().length, 300, 'the live store has it whole from its watch');
    await live.update((tx) => tx.nodes.delete('l1'));
    assert.equal(live.revision, 2);
    assert.deepEqual(await rawOf(root, 'meta/commit'), []);
    assert.deepEqual(await rawOf(root, 'staged/'), []);
    const fresh = await Store.open(await open({ root }), { closeBackend: true });
    after(() => fresh.close());
    assert.equal(fresh.nodes.all().length, 299);
    assert.equal(fresh.nodes.get('l1'), undefined);
  });

  void it('a writer stopped at any point of a staged commit leaves all of it or nothing, and the next open cleans up', async () => {
    // The writer's backend is closed after each delay: it sends nothing more from that point,
    // as a killed process (a request already sent still lands).
    for (const delayMs of [0, 2, 5, 10, 20, 40, 80, 160, 320]) {
      const root = `/flotilla-test/${randomUUID()}`;
      const writer = await open({ root, stagingLeaseSeconds: 1 });
      const ops = Array.from({ length: 400 }, (_, i) => put(nodeKey(`s${i}`), JSON.stringify(makeNode({ id: `s${i}` }))));
      const outcome = writer.txn([], ops).then(
        (r) => (r.succeeded ? 'committed' : 'refused'),
        (e: unknown) => (isBackendError(e) && e.code === 'closed' ? 'stopped' : Promise.reject(e)),
      );
      await new Promise((r) => setTimeout(r, delayMs));
      await writer.close();
      const told = await outcome;
      const store = await Store.open(await open({ root }), { closeBackend: true });
      const n = store.nodes.all().length;
      assert.ok(n === 0 || n === 400, `stopped after ${delayMs} ms: ${n} of 400 objects visible`);
      assert.equal(store.revision, n === 0 ? 0 : 1);
      if (told === 'committed') assert.equal(n, 400, `stopped after ${delayMs} ms: committed but not visible`);
      assert.deepEqual(await rawOf(root, 'meta/commit'), [], 'a committed record is rolled forward on open');
      await store.update((tx) => tx.nodes.create(makeNode({ id: 'after' })));
      assert.equal(store.nodes.all().length, n + 1);
      await store.close();
      // Whatever staging was left is garbage once its lease expires, and the next open removes it.
      await until(async () => (await rawOf(root, 'staged/')).every((k) => /\/staged\/[0-9a-f]+\/\d+$/.test(k)), 'leases expire');
      const last = await open({ root });
      assert.deepEqual(await rawOf(root, 'staged/'), [], `stopped after ${delayMs} ms: staging left behind`);
      await last.close();
    }
  });

  void it('a value larger than one etcd request is split into parts; readers and history get it whole', async () => {
    const root = `/flotilla-test/${randomUUID()}`;
    const b = await open({ root });
    after(() => b.close());
    const huge = 'x'.repeat(4 * 1024 * 1024) + 'é';
    assert.ok((await b.txn([], [put('/big', huge), put('/small', 's')])).succeeded);
    await until(async () => (await raw(b, 'meta/commit')).length === 0, 'rolled forward');
    assert.ok((await raw(b, 'parts/')).length >= 3);
    const reader = await open({ root });
    after(() => reader.close());
    assert.equal((await reader.range('/big')).kvs[0]?.value, huge);
    // Back to a small value: the parts go; then deleted, history still carries the deleted value.
    assert.ok((await b.txn([{ key: '/big', modRevision: 1 }], [put('/big', 'tiny')])).succeeded);
    await until(async () => (await raw(b, 'parts/')).length === 0, 'the parts are gone');
    assert.equal((await reader.range('/big')).kvs[0]?.value, 'tiny');
    assert.ok((await b.txn([], [put('/big', huge)])).succeeded);
    assert.ok((await b.txn([{ key: '/big', modRevision: 3 }], [{ type: 'delete', key: '/big' }])).succeeded);
    await until(async () => (await raw(b, 'parts/')).length === 0, 'the parts are gone');
    const history = await collectBatches(reader, 2, 2);
    assert.equal(history[0]!.events[0]!.value, huge);
    assert.equal(history[1]!.events[0]!.type, 'delete');
    assert.equal(history[1]!.events[0]!.prevValue, huge);
  });

  void it('refuses a transaction over maxTxnBytes, writing nothing', async () => {
    const b = await open({ maxTxnBytes: 1024 * 1024 });
    after(() => b.close());
    const ops = Array.from({ length: 20 }, (_, i) => put(`/k${i}`, 'y'.repeat(100 * 1024)));
    await assert.rejects(b.txn([], ops), (e: unknown) => isBackendError(e) && e.code === 'too_large' && /maxTxnBytes/.test(e.message));
    assert.deepEqual(await b.range(''), { kvs: [], revision: 0 });
    assert.deepEqual(await raw(b, 'staged/'), []);
  });
});

void describe('staged commits: payload and roll-forward', () => {
  const layout = new Layout('/r');

  void it('a payload survives chunking (a value spanning chunks, multi-byte text)', () => {
    const entries: StagedEntry[] = [
      { k: '/a', v: 'é'.repeat(5_000), c: 3, pm: 4 },
      { k: '/b', c: 1, pm: 2, pv: 'old' },
    ];
    const chunks = encodePayload(entries, 64);
    assert.ok(chunks.length > 1);
    const record = { revision: 5, token: 't', chunks: chunks.length };
    assert.deepEqual(decodePayload(record, new Map(chunks.map((c, i) => [i, c]))), entries);
    assert.throws(() => decodePayload(record, new Map([[0, chunks[0]!]])), (e: unknown) => isBackendError(e) && e.code === 'internal');
  });

  void it('events carry the base revisions; roll-forward writes envelopes, parts, and drops old parts', () => {
    const entries: StagedEntry[] = [
      { k: '/new', v: 'n' },
      { k: '/big', v: 'abcdefghij', n: 3, c: 1, pm: 2, pn: 5 },
      { k: '/gone', c: 1, pm: 1, pv: 'was', pn: 2 },
    ];
    assert.deepEqual(payloadEvents(entries, 7), [
      { type: 'put', key: '/new', value: 'n', createRevision: 7, modRevision: 7 },
      { type: 'put', key: '/big', value: 'abcdefghij', createRevision: 1, modRevision: 7, prevModRevision: 2 },
      { type: 'delete', key: '/gone', prevValue: 'was', createRevision: 1, modRevision: 7, prevModRevision: 1 },
    ]);
    const ops = rollForwardOps(layout, entries, 7).map(({ op }) =>
      op.request_put ? `put ${op.request_put.key!.toString()}=${op.request_put.value!.toString()}` : `del ${op.request_delete_range!.key!.toString()}`,
    );
    assert.deepEqual(ops, [
      'put /r/data/new=7:7:n',
      'put /r/parts/big#0=abcd',
      'put /r/parts/big#1=efgh',
      'put /r/parts/big#2=ij',
      'put /r/data/big=1:7*3:',
      'del /r/parts/big#3',
      'del /r/parts/big#4',
      'del /r/data/gone',
      'del /r/parts/gone#0',
      'del /r/parts/gone#1',
    ]);
    assert.deepEqual(packOps(rollForwardOps(layout, entries, 7), 4, 1 << 20).map((g) => g.length), [4, 4, 2]);
  });
});

/** etcd keys under `<root>/<sub>`, through a client of its own. */
async function rawOf(root: string, sub: string): Promise<string[]> {
  const b = await EtcdBackend.open({ endpoints: etcd!.endpoints, root: `/flotilla-test/${randomUUID()}` });
  try {
    return await b.client.getAll().prefix(`${root}/${sub}`).keys();
  } finally {
    await b.close();
  }
}



/** Resolves once `check` holds, checking every 100 ms; fails after 20 s. */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Resolves once `store` has applied `revision`; fails after 20 s. */
async function untilRevision(store: Store, revision: number): Promise<void> {
  if (store.revision >= revision) return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`store stuck at revision ${store.revision}, waiting for ${revision}`));
    }, 20_000);
    const off = store.watch(() => {
      if (store.revision < revision) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

/** The first `n` events of `store.changesSince(from)`. */
function collectEvents(store: Store, from: number, n: number): Promise<StoreEvent[]> {
  return collectFirst<StoreEvent>(n, (on, onError) => store.changesSince(from, on, onError), 'events');
}

/** The first `n` batches `b.watch(from)` delivers. */
function collectBatches(b: EtcdBackend, from: number, n: number): Promise<WatchBatch[]> {
  return collectFirst<WatchBatch>(n, (on, onError) => b.watch(from, on, onError), 'batches');
}
