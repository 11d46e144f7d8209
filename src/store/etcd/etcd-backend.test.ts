import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Node } from '../../api/node.ts';
import { makeNode } from '../../testing/fixtures.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../../testing/etcd-server.ts';
import { isBackendError, type Backend, type Op, type WatchBatch } from '../backend.ts';
import { runBackendConformance } from '../backend-conformance.ts';
import { Store } from '../store.ts';
import { EtcdBackend, type EtcdBackendOptions } from './etcd-backend.ts';
import { commitToken, commitWriter, decodeCounter, fencedTerm, Layout } from './layout.ts';
import { collectFirst } from '../../testing/collect.ts';

const skip = skipUnlessEtcd();
const put = (key: string, value: string): Op => ({ type: 'put', key, value });

/** A fresh backend under its own root prefix, so tests share one etcd. */
function freshRoot(): string {
  return `/flotilla-test/${randomUUID()}`;
}

let plain: EtcdTestCluster | undefined;
let secure: EtcdTestCluster | undefined;
let three: EtcdTestCluster | undefined;

void describe('etcd backend', { skip }, () => {
  before(async () => {
    [plain, secure, three] = await Promise.all([startEtcd(), startEtcd({ tls: true }), startEtcd({ members: 3 })]);
  });
  after(async () => {
    await Promise.all([plain?.stop(), secure?.stop(), three?.stop()]);
  });

  const onPlain = (o: Partial<EtcdBackendOptions> = {}): Promise<EtcdBackend> =>
    EtcdBackend.open({ endpoints: plain!.endpoints, root: freshRoot(), ...o });

  runBackendConformance('etcd', () => onPlain());
  runBackendConformance('etcd, 3-member cluster', () => EtcdBackend.open({ endpoints: three!.endpoints, root: freshRoot() }));
  runBackendConformance('etcd over TLS', () => EtcdBackend.open({ endpoints: secure!.endpoints, tls: secure!.tls!, root: freshRoot() }));

  void it('keeps values and revisions across a reopen, under its own prefix only', async () => {
    const root = freshRoot();
    const b1 = await onPlain({ root });
    await b1.txn([], [put('/a', '1')]);
    await b1.txn([], [put('/a', '2'), put('/b', 'x')]);
    await b1.close();
    const other = await onPlain();
    await other.txn([], [put('/a', 'other')]);
    const b2 = await onPlain({ root });
    assert.deepEqual(await b2.range(''), {
      kvs: [
        { key: '/a', value: '2', createRevision: 1, modRevision: 2 },
        { key: '/b', value: 'x', createRevision: 2, modRevision: 2 },
      ],
      revision: 2,
    });
    assert.deepEqual(await b2.txn([{ key: '/a', modRevision: 2 }], [put('/a', '3')]), { succeeded: true, revision: 3 });
    await Promise.all([b2.close(), other.close()]);
  });

  void it('two backends on one prefix: commits interleave with dense revisions and exact compares', async () => {
    const root = freshRoot();
    const [a, b] = await Promise.all([onPlain({ root }), onPlain({ root })]);
    after(() => Promise.all([a.close(), b.close()]));
    const seen = collect(b, 0, 4);
    assert.deepEqual(await a.txn([], [put('k', 'a1')]), { succeeded: true, revision: 1 });
    // b has not necessarily seen revision 1 yet: its commit loses the race on the counter,
    // catches up from the watch and commits at 2.
    assert.deepEqual(await b.txn([], [put('j', 'b1')]), { succeeded: true, revision: 2 });
    const stale = await a.txn([{ key: 'k', modRevision: 0 }], [put('k', 'again')]);
    assert.equal(stale.succeeded, false);
    assert.deepEqual(stale.failed, { key: 'k', modRevision: 0 });
    assert.ok((await b.txn([{ key: 'k', modRevision: 1 }], [put('k', 'b2')])).succeeded);
    const del = await a.txn([{ key: 'k', modRevision: 3 }], [{ type: 'delete', key: 'k' }]);
    assert.ok(del.succeeded, JSON.stringify(del));
    const batches = await seen;
    assert.deepEqual(batches.map((x) => [x.revision, x.events.map((e) => `${e.type} ${e.key}`)]), [
      [1, ['put k']],
      [2, ['put j']],
      [3, ['put k']],
      [4, ['delete k']],
    ]);
  });

  void it('commits a txn larger than one etcd txn at one revision (staged)', async () => {
    const b = await onPlain({ maxTxnOps: 16 });
    after(() => b.close());
    assert.deepEqual(b.limits.maxOps, 15);
    const many = Array.from({ length: 40 }, (_, i) => put(`k${i}`, 'v'));
    assert.deepEqual(await b.txn([], many), { succeeded: true, revision: 1 });
    const huge = 'x'.repeat(2 * 1024 * 1024);
    assert.deepEqual(await b.txn([], [put('big', huge)]), { succeeded: true, revision: 2 });
    const r = await b.range('');
    assert.equal(r.kvs.length, 41);
    assert.equal(r.kvs.find((kv) => kv.key === 'big')?.value, huge);
    assert.ok((await b.txn([], many.slice(0, 15))).succeeded, 'at the limit it is one etcd txn');
  });

  void it('a store batch is split into commits that fit etcd; each commit atomic', async () => {
    const b = await onPlain({ maxTxnOps: 32 });
    const store = await Store.open(b, { closeBackend: true });
    const ids = Array.from({ length: 100 }, (_, i) => `n${String(i).padStart(3, '0')}`);
    const r = await store.batch((batch) => {
      for (const id of ids) batch.update((tx) => tx.nodes.create(nodeObject(id)));
    });
    assert.deepEqual(r, { committed: 100, errors: [] });
    assert.equal(store.nodes.all().length, 100);
    assert.ok(store.revision >= Math.ceil(100 / 31), `revision ${store.revision}`);
    await store.close();
  });

  void it('a store batch too big in bytes for one etcd txn commits; so does one object over a request', async () => {
    const b = await onPlain({ maxRequestBytes: 256 * 1024 });
    const store = await Store.open(b, { closeBackend: true });
    after(() => store.close());
    const big = 'x'.repeat(100 * 1024);
    const r = await store.batch((batch) => {
      for (let i = 0; i < 4; i++) batch.update((tx) => tx.nodes.create({ ...makeNode({ id: `big${i}`, spec: { labels: { big } } }) }));
    });
    assert.deepEqual(r, { committed: 4, errors: [] });
    assert.equal(store.nodes.all().length, 4);
    // One object larger than an etcd request is staged, its value split.
    await store.update((tx) => tx.nodes.create({ ...makeNode({ id: 'huge', spec: { labels: { big: big.repeat(3) } } }) }));
    assert.equal(store.nodes.get('huge')?.spec.labels['big']?.length, 300 * 1024);
  });

  void it('compacts its history itself, keeping historyRevisions', async () => {
    const b = await onPlain({ historyRevisions: 5 });
    after(() => b.close());
    for (let i = 1; i <= 12; i++) await b.txn([], [put('k', String(i))]);
    const deadline = Date.now() + 10_000;
    while ((await b.compactedRevision()) < 7) {
      assert.ok(Date.now() < deadline, `compacted only to ${await b.compactedRevision()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await b.compactedRevision(), 7);
    assert.deepEqual((await collect(b, 7, 5)).map((x) => x.revision), [8, 9, 10, 11, 12]);
  });

  void it('a follower that falls behind compaction reloads and goes on', async () => {
    const root = freshRoot();
    const reader = await onPlain({ root });
    const store = await Store.open(reader, { closeBackend: true });
    const writer = await onPlain({ root });
    await writer.txn([], [put('/flotilla/nodes/gone', JSON.stringify(nodeObject('gone')))]);
    await untilRevision(store, 1);
    // Cut the reader's watch off (as a lost connection does), write and compact meanwhile.
    reader.suspendFollowingForTest();
    await writer.txn([], [put('/flotilla/nodes/kept', JSON.stringify(nodeObject('kept')))]);
    await writer.txn([{ key: '/flotilla/nodes/gone', modRevision: 1 }], [{ type: 'delete', key: '/flotilla/nodes/gone' }]);
    await writer.compact(3);
    reader.resumeFollowingForTest();
    await untilRevision(store, 3);
    assert.deepEqual(store.nodes.all().map((n) => n.id), ['kept']);
    // And it goes on following.
    await writer.txn([], [put('/flotilla/nodes/later', JSON.stringify(nodeObject('later')))]);
    await untilRevision(store, 4);
    assert.deepEqual(store.nodes.all().map((n) => n.id).sort(), ['kept', 'later']);
    await Promise.all([store.close(), writer.close()]);
  });

  void it('on a 3-member cluster, commits go on while one member is down', async () => {
    const b = await EtcdBackend.open({ endpoints: three!.endpoints, root: freshRoot(), requestTimeoutMs: 2_000 });
    try {
      assert.ok((await b.txn([], [put('a', '0')])).succeeded);
      await three!.members[2]!.stop();
      for (let i = 1; i <= 10; i++) {
        const r = await b.txn([{ key: 'a', modRevision: i }], [put('a', String(i))]);
        assert.deepEqual(r, { succeeded: true, revision: i + 1 });
      }
      assert.equal((await b.range('a')).kvs[0]?.value, '10');
    } finally {
      await three!.members[2]!.start();
      await b.close();
    }
  });

  void it('a fenced commit names its term in the revision counter (etcd history says which leader wrote it)', async () => {
    const root = freshRoot();
    const b = await onPlain({ root });
    after(() => b.close());
    const layout = new Layout(root);
    const fenceKey = `${root}/election/leader`;
    const etcd = b.client;
    const created = await etcd.kv.txn({ compare: [], success: [{ request_put: { key: Buffer.from(fenceKey), value: Buffer.from('me') } }], failure: [] });
    const term = Number(created.header.revision);
    await b.txn([], [put('/fenced', '1')], { fence: { key: fenceKey, createRevision: term } });
    const fenced = await etcd.kv.range({ key: Buffer.from(layout.counterKey) });
    assert.equal(fencedTerm(fenced.kvs[0]?.value), term);
    await b.txn([], [put('/unfenced', '1')]);
    const unfenced = await etcd.kv.range({ key: Buffer.from(layout.counterKey) });
    assert.equal(fencedTerm(unfenced.kvs[0]?.value), undefined);
    assert.equal(decodeCounter(unfenced.kvs[0]?.value), 2);
  });

  void it('every commit names its writer (the manager id) in the counter, small or staged, fenced or not', async () => {
    const root = freshRoot();
    // maxTxnOps 3: a txn of 4 puts is staged.
    const b = await onPlain({ root, writerId: 'mgr-1', maxTxnOps: 3 });
    after(() => b.close());
    const layout = new Layout(root);
    const etcd = b.client;
    const fenceKey = `${root}/election/leader`;
    const created = await etcd.kv.txn({ compare: [], success: [{ request_put: { key: Buffer.from(fenceKey), value: Buffer.from('mgr-1') } }], failure: [] });
    const term = Number(created.header.revision);
    const counter = async (): Promise<Buffer | undefined> => (await etcd.kv.range({ key: Buffer.from(layout.counterKey) })).kvs[0]?.value;
    const four = (p: string): Op[] => [1, 2, 3, 4].map((i) => put(`${p}${i}`, 'x'));
    for (const [ops, fenced] of [[[put('/small', '1')], false], [[put('/small', '2')], true], [four('/staged'), false], [four('/fenced-staged'), true]] as const) {
      await b.txn([], ops, fenced ? { fence: { key: fenceKey, createRevision: term } } : undefined);
      const raw = await counter();
      assert.equal(commitWriter(raw), 'mgr-1', `${raw?.toString()}: names its writer`);
      assert.equal(fencedTerm(raw), fenced ? term : undefined, `${raw?.toString()}: its term`);
    }
    assert.equal(decodeCounter(await counter()), 4);
    await assert.rejects(EtcdBackend.open({ endpoints: plain!.endpoints, writerId: 'a.b' }), (err: unknown) => isBackendError(err) && err.code === 'invalid');
  });

  void it('reads the tokens of counters written before the writer part (no writer) and of every form now', () => {
    const c = (token: string): Buffer => Buffer.from(`7 ${token}`);
    assert.deepEqual([fencedTerm(c('0a1b2c')), commitWriter(c('0a1b2c'))], [undefined, undefined]);
    assert.deepEqual([fencedTerm(c('t12.0a1b2c')), commitWriter(c('t12.0a1b2c'))], [12, undefined]);
    assert.deepEqual([fencedTerm(c(commitToken('0a1b', 12, 'abc'))), commitWriter(c(commitToken('0a1b', 12, 'abc')))], [12, 'abc']);
    assert.deepEqual([fencedTerm(c(commitToken('0a1b', undefined, 'abc'))), commitWriter(c(commitToken('0a1b', undefined, 'abc')))], [undefined, 'abc']);
    assert.equal(commitToken('0a1b', undefined), '0a1b');
    assert.equal(commitToken('0a1b', 3), 't3.0a1b');
  });

  void it('reports "store unavailable" while etcd is down, writes nothing, and resumes when it returns', async () => {
    const own = await startEtcd();
    try {
      const b = await EtcdBackend.open({ endpoints: own.endpoints, root: freshRoot(), requestTimeoutMs: 2_000 });
      after(() => b.close());
      assert.ok((await b.txn([], [put('a', '1')])).succeeded);
      await own.members[0]!.stop();
      await assert.rejects(b.txn([], [put('a', '2')]), (e: unknown) => {
        assert.ok(isBackendError(e), String(e));
        assert.equal(e.code, 'unavailable');
        assert.match(e.message, /^store unavailable: /);
        return true;
      });
      await assert.rejects(b.range(''), (e: unknown) => isBackendError(e) && e.code === 'unavailable');
      await own.members[0]!.start();
      const r = await retryUnavailable(() => b.range(''));
      assert.deepEqual(r.kvs.map((kv) => [kv.key, kv.value]), [['a', '1']], 'nothing half-written');
      assert.deepEqual(await retryUnavailable(() => b.txn([], [put('a', '3')])), { succeeded: true, revision: 2 });
      await b.close();
    } finally {
      await own.stop();
    }
  });
});

function nodeObject(id: string): Node {
  return makeNode({ id });
}

/** Resolves once `store` has applied `revision`; fails after 10 s. */
async function untilRevision(store: Store, revision: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (store.revision < revision) {
    if (Date.now() > deadline) throw new Error(`store stuck at revision ${store.revision}, waiting for ${revision}`);
    await new Promise<void>((resolve) => {
      const off = store.watch(() => {
        off();
        resolve();
      });
      setTimeout(() => {
        off();
        resolve();
      }, 200);
    });
  }
}

/** Repeats `fn` while etcd is still coming back (`unavailable`), for up to 20 s. */
async function retryUnavailable<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isBackendError(err) || err.code !== 'unavailable' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function collect(b: Backend, from: number, n: number): Promise<WatchBatch[]> {
  return collectFirst<WatchBatch>(n, (on, onError) => b.watch(from, on, onError), 'batches');
}
