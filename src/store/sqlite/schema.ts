/**
 * The sqlite backend's tables.
 * - `kv`: the current value of every key with the revisions that created and last changed it.
 * - `log`: every committed change in commit order (the watch history); a delete keeps the
 *   deleted value in `prev_value` (puts do not: see `WatchEvent.prevValue`).
 * - `revs`: one row per committed revision pointing at its first log row, so a watch from a
 *   revision and compaction find their place without an index on every log row.
 * - `meta`: the current revision and the compacted one (history at or before it is gone).
 */
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS kv (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  create_rev INTEGER NOT NULL,
  mod_rev INTEGER NOT NULL
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
 * The smallest string greater than every string starting with `prefix`, so a prefix range is
 * `key >= prefix AND key < prefixEnd(prefix)` and uses the primary-key index.
 */
export function prefixEnd(prefix: string): string {
  let i = prefix.length - 1;
  while (i >= 0 && prefix.charCodeAt(i) === 0xffff) i--;
  if (i < 0) return '\uffff\uffff';
  return prefix.slice(0, i) + String.fromCharCode(prefix.charCodeAt(i) + 1);
}
