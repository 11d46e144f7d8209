import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runBackendConformance } from '../backend-conformance.ts';
import { SqliteBackend } from './sqlite-backend.ts';

runBackendConformance('sqlite :memory:', () => SqliteBackend.open(':memory:'));

const dir = mkdtempSync(join(tmpdir(), 'flotilla-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
runBackendConformance('sqlite file', () => SqliteBackend.open(join(dir, `conf-${n++}.db`)));

void describe('SqliteBackend', () => {
  void it('keeps values, revisions and history across a reopen', async () => {
    const path = join(dir, 'reopen.db');
    const b1 = SqliteBackend.open(path);
    await b1.txn([], [{ type: 'put', key: 'a', value: '1' }]);
    await b1.txn([], [{ type: 'put', key: 'a', value: '2' }]);
    await b1.compact(1);
    await b1.close();
    const b2 = SqliteBackend.open(path);
    assert.deepEqual(await b2.range(''), {
      kvs: [{ key: 'a', value: '2', createRevision: 1, modRevision: 2 }],
      revision: 2,
    });
    assert.equal(await b2.compactedRevision(), 1);
    const r = await b2.txn([{ key: 'a', modRevision: 2 }], [{ type: 'put', key: 'a', value: '3' }]);
    assert.deepEqual(r, { succeeded: true, revision: 3 });
    const replay = await new Promise<number[]>((resolve, reject) => {
      const revs: number[] = [];
      const h = b2.watch(1, (batch) => {
        revs.push(batch.revision);
        if (revs.length === 2) {
          h.close();
          resolve(revs);
        }
      }, reject);
    });
    assert.deepEqual(replay, [2, 3]);
    await b2.close();
  });

  void it('compacts old history on its own', async () => {
    const b = SqliteBackend.open(':memory:', { historyRevisions: 10 });
    for (let i = 0; i < 1_005; i++) await b.txn([], [{ type: 'put', key: 'k', value: String(i) }]);
    assert.equal(await b.compactedRevision(), 990);
    await b.close();
  });

  void it('holds the file exclusively', async () => {
    const path = join(dir, 'exclusive.db');
    const b1 = SqliteBackend.open(path);
    await b1.txn([], [{ type: 'put', key: 'a', value: '1' }]);
    assert.throws(() => SqliteBackend.open(path), /unavailable|locked|cannot open/);
    await b1.close();
  });
});
