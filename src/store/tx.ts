import type { Clock } from '../lib/clock.ts';
import type { Compare, Op } from './backend.ts';
import { StoreError } from './errors.ts';
import { encodeStored } from './encode.ts';
import { deepFreeze } from './freeze.ts';
import type { MemTable } from './mem-table.ts';
import { ReadTable } from './read-table.ts';
import {
  KINDS,
  type Kind,
  type NewObject,
  type NodesTx,
  type ObjectKinds,
  type ServicesTx,
  type StoredObject,
  type TableWriter,
  type TasksTx,
} from './tables.ts';

/** The committed tables a transaction reads through. */
export type MemTables = { readonly [K in Kind]: MemTable<ObjectKinds[K]> };

/** One object written by the transaction: what it was based on, and what it is now. */
interface Entry<T> {
  /** The committed object when the tx first wrote it (its version goes in the compare). */
  readonly base: T | undefined;
  /** The object as the tx leaves it; null when deleted. */
  obj: T | null;
}

const ABSENT = Symbol('absent');

interface Undo {
  readonly table: TxTable<StoredObject>;
  readonly id: string;
  readonly prev: StoredObject | null | typeof ABSENT;
}

/** What a transaction asks the backend to do. */
export interface Plan {
  readonly compares: Compare[];
  readonly ops: Op[];
  /** Objects put, with the exact value string written, so the store reuses them on apply. */
  readonly puts: Array<{ readonly key: string; readonly value: string; readonly object: StoredObject }>;
}

/**
 * A transaction: reads see the committed state plus the tx's own writes; writes are checked
 * against what the tx sees (existence, version, unique names) and kept in an overlay until
 * `plan()` turns them into backend compares and ops. A batch runs many callbacks in one Tx,
 * with a savepoint around each so one that throws leaves no trace.
 */
export class Tx {
  readonly nodes: NodesTx;
  readonly services: ServicesTx;
  readonly tasks: TasksTx;
  readonly #tables: { readonly [K in Kind]: TxTable<ObjectKinds[K]> };
  readonly #clock: Clock;
  readonly #undo: Undo[] | undefined;
  #open = true;
  #now: string | undefined;
  /** Number of objects written (an estimate of the commit's size). */
  writes = 0;

  constructor(mem: MemTables, clock: Clock, options: { savepoints: boolean }) {
    this.#clock = clock;
    this.#undo = options.savepoints ? [] : undefined;
    this.#tables = {
      node: new TxTable(mem.node, this),
      service: new TxTable(mem.service, this),
      task: new TxTable(mem.task, this),
      cluster: new TxTable(mem.cluster, this),
      clusterKey: new TxTable(mem.clusterKey, this),
      secret: new TxTable(mem.secret, this),
      config: new TxTable(mem.config, this),
      stack: new TxTable(mem.stack, this),
      network: new TxTable(mem.network, this),
      image: new TxTable(mem.image, this),
    };
    this.nodes = this.#tables.node;
    this.services = this.#tables.service;
    this.tasks = this.#tables.task;
  }

  /** The table of any kind, for code that is generic over kinds. */
  table<K extends Kind>(kind: K): TxTable<ObjectKinds[K]> {
    return this.#tables[kind];
  }

  /** @internal Throws unless the tx is still running its callback. */
  checkOpen(): void {
    if (!this.#open) {
      throw new StoreError('invalid', 'transaction already ended: use the tx only inside its callback, synchronously');
    }
  }

  /** @internal One timestamp per transaction, from the store's clock. */
  now(): string {
    return (this.#now ??= new Date(this.#clock.now()).toISOString());
  }

  /** @internal */
  recordUndo(table: TxTable<StoredObject>, id: string, prev: StoredObject | null | typeof ABSENT): void {
    this.writes++;
    this.#undo?.push({ table, id, prev });
  }

  /** @internal A point to roll back to (batch mode). */
  savepoint(): number {
    return this.#undo?.length ?? 0;
  }

  /** @internal Forgets every write made after `savepoint`. */
  rollbackTo(savepoint: number): void {
    const undo = this.#undo;
    if (!undo) throw new Error('rollbackTo needs a tx opened with savepoints');
    while (undo.length > savepoint) {
      const u = undo.pop()!;
      u.table.restore(u.id, u.prev);
      this.writes--;
    }
  }

  /** @internal Ends the callback phase; later use of the tx throws `invalid`. */
  end(): void {
    this.#open = false;
  }

  /** @internal The compares and ops that commit this tx's writes. */
  plan(): Plan {
    const plan: Plan = { compares: [], ops: [], puts: [] };
    for (const kind of KINDS) (this.#tables[kind] as unknown as TxTable<StoredObject>).plan(plan);
    return plan;
  }

  /**
   * If `result` is an object this tx wrote, the committed copy of it (with its new version)
   * from the store; otherwise `result` itself.
   */
  resolveResult<R>(result: R): R {
    if (typeof result !== 'object' || result === null || !('id' in result)) return result;
    const id = (result as { id: unknown }).id;
    if (typeof id !== 'string') return result;
    for (const kind of KINDS) {
      const t = this.#tables[kind] as unknown as TxTable<StoredObject>;
      if (t.written(id) === (result as unknown)) return (t.committed(id) ?? result) as R;
    }
    return result;
  }
}

/** One kind's view inside a transaction. */
export class TxTable<T extends StoredObject> extends ReadTable<T> implements TableWriter<T> {
  readonly #mem: MemTable<T>;
  readonly #tx: Tx;
  readonly #entries = new Map<string, Entry<T>>();
  /** index → value → id → object, over the overlay only; built on first indexed read. */
  #overlay: Map<string, Map<string, Map<string, T>>> | undefined;

  constructor(mem: MemTable<T>, tx: Tx) {
    super();
    this.#mem = mem;
    this.#tx = tx;
  }

  get(id: string): T | undefined {
    const e = this.#entries.get(id);
    if (e) return e.obj ?? undefined;
    return this.#mem.get(id);
  }

  all(): T[] {
    if (this.#entries.size === 0) return this.#mem.all();
    const out: T[] = [];
    for (const o of this.#mem.all()) if (!this.#entries.has(o.id)) out.push(o);
    for (const e of this.#entries.values()) if (e.obj) out.push(e.obj);
    return out;
  }

  by(index: string, value: string): T[] {
    if (this.#entries.size === 0) return this.#mem.by(index, value);
    const base = this.#mem.ids(index, value);
    const out: T[] = [];
    if (base) for (const id of base) if (!this.#entries.has(id)) out.push(this.#mem.get(id)!);
    const mine = this.#overlayIndex(index).get(value);
    if (mine) for (const o of mine.values()) out.push(o);
    return out;
  }

  get size(): number {
    let n = this.#mem.size;
    for (const [id, e] of this.#entries) {
      const inMem = this.#mem.get(id) !== undefined;
      if (inMem && !e.obj) n--;
      else if (!inMem && e.obj) n++;
    }
    return n;
  }

  create(input: NewObject<T>): T {
    this.#tx.checkOpen();
    const id = checkId(this.#mem.def.kind, (input as { id?: unknown }).id);
    const kind = this.#mem.def.kind;
    if (this.get(id)) throw new StoreError('already_exists', `${kind} ${id} already exists`);
    const now = this.#tx.now();
    // `version` first in key order, as in every stored object (one shape; see `update`).
    const fields = { version: 0, ...input, createdAt: now, updatedAt: now };
    fields.version = 0;
    const obj = deepFreeze(fields as unknown as T);
    this.#checkUnique(obj);
    this.#write(id, obj);
    return obj;
  }

  update(input: T): T {
    this.#tx.checkOpen();
    const kind = this.#mem.def.kind;
    const id = checkId(kind, (input as { id?: unknown }).id);
    const cur = this.get(id);
    if (!cur) throw new StoreError('not_found', `${kind} ${id} not found`);
    if (input.version !== cur.version) {
      throw new StoreError(
        'conflict',
        `${kind} ${id} changed: the update is based on version ${String(input.version)}, the current version is ${cur.version}`,
      );
    }
    const rest = input as Omit<T, 'version'>; // version first in key order (see create)
    const obj = deepFreeze({ version: cur.version, ...rest, createdAt: cur.createdAt, updatedAt: this.#tx.now() }) as T;
    this.#checkUnique(obj);
    this.#write(id, obj);
    return obj;
  }

  delete(id: string, version?: number): void {
    this.#tx.checkOpen();
    const kind = this.#mem.def.kind;
    const cur = this.get(id);
    if (!cur) throw new StoreError('not_found', `${kind} ${id} not found`);
    if (version !== undefined && version !== cur.version) {
      throw new StoreError('conflict', `${kind} ${id} changed: delete of version ${version}, the current version is ${cur.version}`);
    }
    this.#write(id, null);
  }

  /** @internal The object this tx wrote for `id` (null: deleted), undefined if untouched. */
  written(id: string): T | null | undefined {
    return this.#entries.get(id)?.obj;
  }

  /** @internal The committed object. */
  committed(id: string): T | undefined {
    return this.#mem.get(id);
  }

  /** @internal Undoes one write (batch savepoints). */
  restore(id: string, prev: T | null | typeof ABSENT): void {
    if (prev === ABSENT) this.#entries.delete(id);
    else this.#entries.get(id)!.obj = prev;
    this.#overlay = undefined; // rebuilt on the next indexed read
  }

  /** @internal Adds this table's compares and ops to `plan`. */
  plan(plan: Plan): void {
    const def = this.#mem.def;
    const released: string[] = [];
    const claimed: Array<[string, string]> = [];
    const uniqueFn = def.unique ? def.indexes[def.unique.index] : undefined;
    for (const [id, e] of this.#entries) {
      if (e.obj === e.base || (e.obj === null && e.base === undefined)) continue;
      const key = def.prefix + id;
      plan.compares.push({ key, modRevision: e.base?.version ?? 0 });
      if (e.obj === null) {
        plan.ops.push({ type: 'delete', key });
      } else {
        const value = encodeStored(e.obj);
        plan.ops.push({ type: 'put', key, value });
        plan.puts.push({ key, value, object: e.obj });
      }
      if (uniqueFn) {
        const was = e.base ? uniqueFn(e.base) : undefined;
        const now = e.obj ? uniqueFn(e.obj) : undefined;
        if (was !== now) {
          if (was !== undefined) released.push(was);
          if (now !== undefined) claimed.push([now, id]);
        }
      }
    }
    if (!def.unique) return;
    // Deletes first, so a name handed from one object to another in one tx ends up held.
    for (const name of released) plan.ops.push({ type: 'delete', key: def.unique.prefix + name });
    for (const [name, id] of claimed) {
      const key = def.unique.prefix + name;
      if (!released.includes(name)) plan.compares.push({ key, modRevision: 0 });
      plan.ops.push({ type: 'put', key, value: id });
    }
  }

  #write(id: string, obj: T | null): void {
    const e = this.#entries.get(id);
    const before = e ? e.obj : this.#mem.get(id) ?? null;
    this.#tx.recordUndo(this as unknown as TxTable<StoredObject>, id, e ? e.obj : ABSENT);
    if (e) e.obj = obj;
    else this.#entries.set(id, { base: this.#mem.get(id), obj });
    if (this.#overlay) {
      for (const [name, values] of this.#overlay) {
        const fn = this.#mem.index(name).fn;
        const ov = before ? fn(before) : undefined;
        if (ov !== undefined) values.get(ov)?.delete(id);
        const nv = obj ? fn(obj) : undefined;
        if (nv !== undefined) {
          let b = values.get(nv);
          if (!b) values.set(nv, (b = new Map()));
          b.set(id, obj!);
        }
      }
    }
  }

  #overlayIndex(index: string): Map<string, Map<string, T>> {
    this.#overlay ??= new Map();
    let values = this.#overlay.get(index);
    if (values) return values;
    const fn = this.#mem.index(index).fn;
    values = new Map();
    for (const [id, e] of this.#entries) {
      if (!e.obj) continue;
      const v = fn(e.obj);
      if (v === undefined) continue;
      let b = values.get(v);
      if (!b) values.set(v, (b = new Map()));
      b.set(id, e.obj);
    }
    this.#overlay.set(index, values);
    return values;
  }

  #checkUnique(obj: T): void {
    const u = this.#mem.def.unique;
    if (!u) return;
    const value = this.#mem.index(u.index).fn(obj);
    if (value === undefined) return;
    const holder = this.by(u.index, value).find((o) => o.id !== obj.id);
    if (holder) {
      throw new StoreError(
        'already_exists',
        `${this.#mem.def.kind} ${u.index} "${value}" is already taken by ${this.#mem.def.kind} ${holder.id}`,
      );
    }
  }
}

function checkId(kind: string, id: unknown): string {
  if (typeof id !== 'string' || id.length === 0 || id.includes('/')) {
    throw new StoreError('invalid', `${kind} id must be a non-empty string without "/", got ${JSON.stringify(id)}`);
  }
  return id;
}
