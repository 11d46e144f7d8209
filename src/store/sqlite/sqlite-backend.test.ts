import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runBackendConformance } from '../backend-conformance.ts';
import { loadSqlite } from './load-sqlite.ts';
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

  void it('writes many puts and deletes in one group, with deletes of values not yet written', async () => {
    const path = join(dir, 'group.db');
    const b1 = SqliteBackend.open(path);
    const puts = Array.from({ length: 150 }, (_, i) => ({ type: 'put' as const, key: `k/${String(i).padStart(3, '0')}`, value: `v${i}` }));
    const [r1, r2, r3] = await Promise.all([
      b1.txn([], puts),
      b1.txn([{ key: 'k/007', modRevision: 1 }], [{ type: 'delete', key: 'k/007' }, { type: 'put', key: 'k/008', value: 'w8' }]),
      b1.txn([], [{ type: 'put', key: 'k/007', value: 'again' }, { type: 'delete', key: 'k/149' }]),
    ]);
    assert.deepEqual([r1!.revision, r2!.succeeded, r3!.revision], [1, true, 3]);
    await b1.close();
    const b2 = SqliteBackend.open(path);
    const { kvs, revision } = await b2.range('k/');
    assert.equal(revision, 3);
    assert.equal(kvs.length, 149);
    assert.deepEqual(kvs.find((kv) => kv.key === 'k/007'), { key: 'k/007', value: 'again', createRevision: 3, modRevision: 3 });
    assert.deepEqual(kvs.find((kv) => kv.key === 'k/008'), { key: 'k/008', value: 'w8', createRevision: 1, modRevision: 2 });
    const events = await new Promise<Array<{ revision: number; types: string }>>((resolve, reject) => {
      const out: Array<{ revision: number; types: string }> = [];
      const h = b2.watch(1, (batch) => {
        out.push({ revision: batch.revision, types: batch.events.map((e) => `${e.type} ${e.key} ${e.prevValue ?? e.value}`).join(', ') });
        if (batch.revision === 3) {
          h.close();
          resolve(out);
        }
      }, reject);
    });
    assert.deepEqual(events, [
      { revision: 2, types: 'delete k/007 v7, put k/008 w8' },
      { revision: 3, types: 'put k/007 again, delete k/149 v149' },
    ]);
    await b2.close();
  });

  void it('compaction keeps every current value, however old', async () => {
    const path = join(dir, 'compact-live.db');
    const b1 = SqliteBackend.open(path);
    await b1.txn([], [{ type: 'put', key: 'old', value: 'kept' }]);
    for (let i = 0; i < 20; i++) await b1.txn([], [{ type: 'put', key: 'hot', value: String(i) }]);
    await b1.compact(21);
    await b1.close();
    const b2 = SqliteBackend.open(path);
    assert.deepEqual((await b2.range('')).kvs.map((kv) => [kv.key, kv.value, kv.modRevision]), [['hot', '19', 21], ['old', 'kept', 1]]);
    await b2.close();
    const { DatabaseSync } = loadSqlite();
    const db = new DatabaseSync(path);
    assert.equal((db.prepare('SELECT count(*) AS n FROM log').get() as { n: number }).n, 2, 'superseded rows are gone');
    db.close();
  });

  void it('opens a file of the first layout (values in kv) and carries on', async () => {
    const path = join(dir, 'layout0.db');
    const { DatabaseSync } = loadSqlite();
    const db = new DatabaseSync(path);
    db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL);
      CREATE TABLE log (id INTEGER PRIMARY KEY, rev INTEGER NOT NULL, key TEXT NOT NULL, value TEXT, prev_value TEXT,
        create_rev INTEGER NOT NULL, prev_mod_rev INTEGER);
      CREATE TABLE revs (rev INTEGER PRIMARY KEY, first_id INTEGER NOT NULL);
      CREATE TABLE meta (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL, compacted INTEGER NOT NULL);
      INSERT INTO meta VALUES (1, 3, 1);
      -- revision 1 (a=1, b=1) is compacted; 2: a=2; 3: c=3
      INSERT INTO kv VALUES ('a', '2', 1, 2), ('b', '1', 1, 1), ('c', '3', 3, 3);
      INSERT INTO log VALUES (3, 2, 'a', '2', NULL, 1, 1), (4, 3, 'c', '3', NULL, 3, NULL);
      INSERT INTO revs VALUES (2, 3), (3, 4);
    `);
    db.close();
    const b = SqliteBackend.open(path, { historyRevisions: 0 });
    assert.deepEqual(await b.range(''), {
      kvs: [
        { key: 'a', value: '2', createRevision: 1, modRevision: 2 },
        { key: 'b', value: '1', createRevision: 1, modRevision: 1 },
        { key: 'c', value: '3', createRevision: 3, modRevision: 3 },
      ],
      revision: 3,
    });
    assert.deepEqual(await b.txn([{ key: 'b', modRevision: 1 }], [{ type: 'delete', key: 'b' }, { type: 'put', key: 'a', value: '4' }]), {
      succeeded: true,
      revision: 4,
    });
    const replay = await new Promise<string[]>((resolve, reject) => {
      const seen: string[] = [];
      const h = b.watch(1, (batch) => {
        for (const e of batch.events) seen.push(`${batch.revision} ${e.type} ${e.key} ${e.value ?? e.prevValue}`);
        if (batch.revision === 4) {
          h.close();
          resolve(seen);
        }
      }, reject);
    });
    assert.deepEqual(replay, ['2 put a 2', '3 put c 3', '4 delete b 1', '4 put a 4']);
    await b.compact(4);
    assert.deepEqual((await b.range('')).kvs.map((kv) => `${kv.key}=${kv.value}`), ['a=4', 'c=3']);
    await b.close();
  });
});
