import type { DatabaseSync } from 'node:sqlite';

/** `PRAGMA user_version` of the current layout. 0: the first layout (values in `kv`). */
export const SCHEMA_VERSION = 1;

/**
 * The sqlite backend's tables. Every value is written once, in `log`:
 * - `log`: every committed change in commit order (the watch history). A put's row holds the
 *   new value and, while it is the key's latest put, is also where the current value lives;
 *   a delete keeps the deleted value in `prev_value` (puts do not: see
 *   `WatchEvent.prevValue`). Compaction deletes old rows except the live ones.
 * - `kv`: one small row per existing key: `log_id` points at the log row holding its current
 *   value. Its rowid (a "slot") is kept in memory, so updates address it without a key index.
 *   (The first layout kept a second copy of every value here, keyed by text: each write cost
 *   two ~1 KiB rows and a random-order B-tree update.)
 * - `revs`: one row per committed revision pointing at its first log row, so a watch from a
 *   revision and compaction find their place without an index on every log row.
 * - `meta`: the current revision and the compacted one (history at or before it is gone).
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  id INTEGER PRIMARY KEY,
  log_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
  id INTEGER PRIMARY KEY,
  rev INTEGER NOT NULL,
  key TEXT NOT NULL,
  value TEXT,
  prev_value TEXT,
  create_rev INTEGER NOT NULL,
  prev_mod_rev INTEGER
);
CREATE TABLE IF NOT EXISTS revs (
  rev INTEGER PRIMARY KEY,
  first_id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  revision INTEGER NOT NULL,
  compacted INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (id, revision, compacted) VALUES (1, 0, 0);
`;

/**
 * Creates the tables, or brings a file of the first layout (current values in `kv.value`) to
 * the current one in one transaction. A current value whose log row was compacted away is
 * re-added to the log under a negative id: below every revision's first row, so no watch
 * replays it, and kept by compaction while it is live.
 */
export function initSchema(db: DatabaseSync): void {
  const version = (db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version;
  if (version > SCHEMA_VERSION) {
    throw new Error(`the file has store layout ${version}; this Flotilla knows layouts up to ${SCHEMA_VERSION}`);
  }
  const columns = db.prepare("SELECT name FROM pragma_table_info('kv')").all() as Array<{ name: string }>;
  const legacy = columns.some((c) => c.name === 'value');
  db.exec('BEGIN IMMEDIATE');
  try {
    if (legacy) db.exec('ALTER TABLE kv RENAME TO kv_v0');
    db.exec(SCHEMA);
    if (legacy) migrateV0(db);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

function migrateV0(db: DatabaseSync): void {
  const latest = new Map<string, number>(); // `${rev} ${key}` → log id of that put
  for (const r of db.prepare('SELECT id, rev, key FROM log WHERE value IS NOT NULL').iterate() as Iterable<{
    id: number;
    rev: number;
    key: string;
  }>) {
    latest.set(`${r.rev} ${r.key}`, r.id);
  }
  const insertLog = db.prepare(
    'INSERT INTO log (id, rev, key, value, prev_value, create_rev, prev_mod_rev) VALUES (?, ?, ?, ?, NULL, ?, NULL)',
  );
  const insertKv = db.prepare('INSERT INTO kv (log_id) VALUES (?)');
  let nextNegative = -1;
  const old = db.prepare('SELECT key, value, create_rev, mod_rev FROM kv_v0 ORDER BY rowid').all() as Array<{
    key: string;
    value: string;
    create_rev: number;
    mod_rev: number;
  }>;
  for (const r of old) {
    let logId = latest.get(`${r.mod_rev} ${r.key}`);
    if (logId === undefined) {
      logId = nextNegative--;
      insertLog.run(logId, r.mod_rev, r.key, r.value, r.create_rev);
    }
    insertKv.run(logId);
  }
  db.exec('DROP TABLE kv_v0');
}

/**
 * The smallest string greater than every string starting with `prefix`, so a prefix range is
 * `key >= prefix AND key < prefixEnd(prefix)`.
 */
export function prefixEnd(prefix: string): string {
  let i = prefix.length - 1;
  while (i >= 0 && prefix.charCodeAt(i) === 0xffff) i--;
  if (i < 0) return '\uffff\uffff';
  return prefix.slice(0, i) + String.fromCharCode(prefix.charCodeAt(i) + 1);
}
