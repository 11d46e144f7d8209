import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isBackendError, type Backend, type Op, type WatchBatch } from './backend.ts';

/**
 * The contract every backend passes. Call it from the backend's own test file:
 *
 *   runBackendConformance('sqlite', () => SqliteBackend.open(':memory:'));
 *
 * `makeBackend` must return a fresh, empty backend each call.
 */
export function runBackendConformance(name: string, makeBackend: () => Backend | Promise<Backend>): void {
  const withBackend = (fn: (b: Backend) => Promise<void>) => async (): Promise<void> => {
    const b = await makeBackend();
    try {
      await fn(b);
    } finally {
      await b.close();
    }
  };
  const put = (key: string, value: string): Op => ({ type: 'put', key, value });

  void describe(`backend conformance: ${name}`, () => {
    void it('starts empty at revision 0 with nothing compacted', withBackend(async (b) => {
      assert.deepEqual(await b.range(''), { kvs: [], revision: 0 });
      assert.equal(await b.compactedRevision(), 0);
    }));

    void it('ranges by prefix in key order, with the revision read at', withBackend(async (b) => {
      await b.txn([], [put('/a/2', 'two'), put('/b/1', 'b'), put('/a/1', 'one'), put('/ab', 'x')]);
      const r = await b.range('/a/');
      assert.deepEqual(r.kvs.map((kv) => [kv.key, kv.value]), [['/a/1', 'one'], ['/a/2', 'two']]);
      assert.equal(r.revision, 1);
      assert.deepEqual((await b.range('')).kvs.map((kv) => kv.key), ['/a/1', '/a/2', '/ab', '/b/1']);
      assert.deepEqual((await b.range('/c')).kvs, []);
    }));

    void it('gives every committed txn the next revision; createRevision stays, modRevision moves', withBackend(async (b) => {
      const r1 = await b.txn([], [put('k', '1')]);
      const r2 = await b.txn([], [put('k', '2')]);
      const r3 = await b.txn([], [put('j', '1'), put('k', '3')]);
      assert.deepEqual([r1.revision, r2.revision, r3.revision], [1, 2, 3]);
      assert.ok(r1.succeeded && r2.succeeded && r3.succeeded);
      const kvs = (await b.range('')).kvs;
      assert.deepEqual(kvs.map((kv) => [kv.key, kv.value, kv.createRevision, kv.modRevision]), [
        ['j', '1', 3, 3],
        ['k', '3', 1, 3],
      ]);
    }));

    void it('an empty txn, or one deleting only missing keys, bumps nothing', withBackend(async (b) => {
      await b.txn([], [put('k', '1')]);
      assert.deepEqual(await b.txn([], []), { succeeded: true, revision: 1 });
      assert.deepEqual(await b.txn([], [{ type: 'delete', key: 'nope' }]), { succeeded: true, revision: 1 });
    }));

    void it('compare modRevision 0 means create-only; a failed compare writes nothing', withBackend(async (b) => {
      const ok = await b.txn([{ key: 'k', modRevision: 0 }], [put('k', '1'), put('other', 'x')]);
      assert.ok(ok.succeeded);
      const again = await b.txn([{ key: 'k', modRevision: 0 }], [put('k', '2'), put('other', 'y')]);
      assert.equal(again.succeeded, false);
      assert.deepEqual(again.failed, { key: 'k', modRevision: 0 });
      assert.equal(again.revision, 1, 'a failed txn reports the current revision');
      assert.deepEqual((await b.range('')).kvs.map((kv) => kv.value), ['1', 'x']);
    }));

    void it('a stale modRevision fails; the current one succeeds', withBackend(async (b) => {
      await b.txn([], [put('k', '1')]);
      await b.txn([], [put('k', '2')]);
      const stale = await b.txn([{ key: 'k', modRevision: 1 }, { key: 'j', modRevision: 0 }], [put('k', 'stale')]);
      assert.equal(stale.succeeded, false);
      assert.deepEqual(stale.failed, { key: 'k', modRevision: 1 });
      const fresh = await b.txn([{ key: 'k', modRevision: 2 }, { key: 'j', modRevision: 0 }], [put('k', '3')]);
      assert.deepEqual(fresh, { succeeded: true, revision: 3 });
    }));

    void it('txns issued together commit in order, each seeing the ones before it', withBackend(async (b) => {
      const results = await Promise.all([
        b.txn([{ key: 'k', modRevision: 0 }], [put('k', 'first')]),
        b.txn([{ key: 'k', modRevision: 0 }], [put('k', 'second')]),
        b.txn([{ key: 'k', modRevision: 1 }], [put('k', 'third')]),
      ]);
      assert.deepEqual(results.map((r) => [r.succeeded, r.revision]), [[true, 1], [false, 1], [true, 2]]);
      assert.equal((await b.range('k')).kvs[0]?.value, 'third');
    }));

    void it('deletes remove the key and report the deleted value', withBackend(async (b) => {
      await b.txn([], [put('k', 'v'), put('j', 'w')]);
      const got = collect(b, 1, 1);
      const r = await b.txn([{ key: 'k', modRevision: 1 }], [{ type: 'delete', key: 'k' }]);
      assert.deepEqual(r, { succeeded: true, revision: 2 });
      assert.deepEqual((await b.range('')).kvs.map((kv) => kv.key), ['j']);
      const [batch] = await got;
      assert.deepEqual(batch, {
        revision: 2,
        events: [{ type: 'delete', key: 'k', prevValue: 'v', createRevision: 1, modRevision: 2, prevModRevision: 1 }],
      });
      const recreated = await b.txn([{ key: 'k', modRevision: 0 }], [put('k', 'again')]);
      assert.ok(recreated.succeeded);
      assert.equal((await b.range('k')).kvs[0]?.createRevision, 3);
    }));

    void it('watch from now delivers each committed txn, in order, with its events', withBackend(async (b) => {
      const got = collect(b, 0, 3);
      await b.txn([], [put('a', '1'), put('b', '1')]);
      await b.txn([{ key: 'a', modRevision: 0 }], [put('a', 'lost')]); // fails: no batch
      await b.txn([], [put('a', '2')]);
      await b.txn([], [{ type: 'delete', key: 'b' }]);
      const batches = await got;
      assert.deepEqual(batches.map((x) => x.revision), [1, 2, 3]);
      assert.deepEqual(batches[0]!.events, [
        { type: 'put', key: 'a', value: '1', createRevision: 1, modRevision: 1 },
        { type: 'put', key: 'b', value: '1', createRevision: 1, modRevision: 1 },
      ]);
      assert.deepEqual(batches[1]!.events, [
        { type: 'put', key: 'a', value: '2', createRevision: 1, modRevision: 2, prevModRevision: 1 },
      ]);
      assert.equal(batches[2]!.events[0]!.type, 'delete');
    }));

    void it('watch from the past replays the log, then continues live without gaps or repeats', withBackend(async (b) => {
      for (let i = 1; i <= 5; i++) await b.txn([], [put('k', String(i))]);
      const got = collect(b, 2, 5);
      await b.txn([], [put('k', '6')]);
      await b.txn([], [put('k', '7')]);
      const batches = await got;
      assert.deepEqual(batches.map((x) => x.revision), [3, 4, 5, 6, 7]);
      assert.deepEqual(batches.map((x) => x.events[0]!.value), ['3', '4', '5', '6', '7']);
    }));

    void it('several watchers each get everything; one that throws does not stop the others', withBackend(async (b) => {
      const errors: Error[] = [];
      const h = b.watch(0, () => {
        throw new Error('listener bug');
      }, (e) => errors.push(e));
      const got = collect(b, 0, 2);
      await b.txn([], [put('a', '1')]);
      await b.txn([], [put('a', '2')]);
      assert.deepEqual((await got).map((x) => x.revision), [1, 2]);
      h.close();
    }));

    void it('a closed watch gets nothing more', withBackend(async (b) => {
      const seen: number[] = [];
      const h = b.watch(0, (x) => seen.push(x.revision), () => {});
      await b.txn([], [put('a', '1')]);
      h.close();
      await b.txn([], [put('a', '2')]);
      assert.deepEqual(seen, [1]);
    }));

    void it('compaction drops history but keeps values; watching from before it fails compacted', withBackend(async (b) => {
      for (let i = 1; i <= 5; i++) await b.txn([], [put(`k${i}`, String(i))]);
      await b.compact(3);
      assert.equal(await b.compactedRevision(), 3);
      assert.equal((await b.range('')).kvs.length, 5);
      const err = await new Promise<Error>((resolve) => b.watch(2, () => resolve(new Error('delivered')), resolve));
      assert.ok(isBackendError(err), String(err));
      assert.equal(err.code, 'compacted');
      assert.deepEqual((await collect(b, 3, 2)).map((x) => x.revision), [4, 5]);
    }));

    void it('after close, calls fail closed; close is idempotent', async () => {
      const b = await makeBackend();
      await b.txn([], [put('a', '1')]);
      await b.close();
      await b.close();
      await assert.rejects(b.txn([], [put('a', '2')]), (e: unknown) => isBackendError(e) && e.code === 'closed');
      await assert.rejects(b.range(''), (e: unknown) => isBackendError(e) && e.code === 'closed');
    });
  });
}

/** The first `n` batches a watch from `from` delivers; fails after 5 s without them. */
function collect(b: Backend, from: number, n: number): Promise<WatchBatch[]> {
  return new Promise((resolve, reject) => {
    const got: WatchBatch[] = [];
    const timer = setTimeout(() => {
      h.close();
      reject(new Error(`timed out with ${got.length} of ${n} batches: ${JSON.stringify(got)}`));
    }, 5_000);
    const h = b.watch(
      from,
      (batch) => {
        got.push(batch);
        if (got.length === n) {
          clearTimeout(timer);
          h.close();
          resolve(got);
        }
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
