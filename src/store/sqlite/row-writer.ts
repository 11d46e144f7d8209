import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';

/** Rows per multi-row statement, largest first; any count is written as a sum of these. */
const SIZES = [64, 16, 4, 1] as const;
const LOG_COLUMNS = 7;
const KV_COLUMNS = 2;

/**
 * Buffers the rows one commit writes to `log` and `kv` and writes them with multi-row
 * INSERTs: one statement per 64 rows instead of one per row. SQLite's per-statement cost
 * (bind, step, reset, and node:sqlite's result object) was about a third of a small write.
 * Ids are chosen by the caller, so nothing has to be read back.
 *
 * Rows are only written by `write()`: call it before reading the tables in the same
 * transaction, and before COMMIT.
 */
export class RowWriter {
  readonly #log: ReadonlyMap<number, StatementSync>;
  readonly #kv: ReadonlyMap<number, StatementSync>;
  #logRows: SQLInputValue[] = [];
  #kvRows: SQLInputValue[] = [];

  constructor(db: DatabaseSync) {
    const log = new Map<number, StatementSync>();
    const kv = new Map<number, StatementSync>();
    for (const n of SIZES) {
      log.set(
        n,
        db.prepare(
          `INSERT INTO log (id, rev, key, value, prev_value, create_rev, prev_mod_rev) VALUES ${rows(n, LOG_COLUMNS)}`,
        ),
      );
      // An upsert: a new key's slot is inserted, an existing one's pointer replaced.
      kv.set(n, db.prepare(`INSERT INTO kv (id, log_id) VALUES ${rows(n, KV_COLUMNS)} ON CONFLICT (id) DO UPDATE SET log_id = excluded.log_id`));
    }
    this.#log = log;
    this.#kv = kv;
  }

  /** Queues one `log` row. */
  log(
    id: number,
    rev: number,
    key: string,
    value: string | null,
    prevValue: string | null,
    createRev: number,
    prevModRev: number | null,
  ): void {
    this.#logRows.push(id, rev, key, value, prevValue, createRev, prevModRev);
  }

  /** Queues pointing `kv` slot `slot` at log row `logId` (creating the slot if new). */
  point(slot: number, logId: number): void {
    this.#kvRows.push(slot, logId);
  }

  /** Writes what is queued, in order: log rows, then kv rows. */
  write(): void {
    writeAll(this.#log, this.#logRows, LOG_COLUMNS);
    writeAll(this.#kv, this.#kvRows, KV_COLUMNS);
    this.#logRows = [];
    this.#kvRows = [];
  }

  /** Forgets what is queued (the transaction is being rolled back). */
  discard(): void {
    this.#logRows = [];
    this.#kvRows = [];
  }
}

function writeAll(statements: ReadonlyMap<number, StatementSync>, values: SQLInputValue[], columns: number): void {
  const rowCount = values.length / columns;
  let row = 0;
  for (const n of SIZES) {
    const st = statements.get(n)!;
    while (rowCount - row >= n) {
      st.run(...values.slice(row * columns, (row + n) * columns));
      row += n;
    }
  }
}

function rows(n: number, columns: number): string {
  const one = `(${new Array<string>(columns).fill('?').join(', ')})`;
  return new Array<string>(n).fill(one).join(', ');
}
