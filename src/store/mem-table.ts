import { StoreError } from './errors.ts';
import { ReadTable } from './read-table.ts';
import type { StoredObject, TableDef } from './tables.ts';

interface Index<T> {
  readonly fn: (o: T) => string | undefined;
  /** index value → ids; an update that keeps the value does no index work. */
  readonly buckets: Map<string, Set<string>>;
}

/**
 * The committed objects of one kind, in memory, with their secondary indexes. Only the store
 * changes it (`set`/`remove`, when it applies a committed transaction); everyone else reads.
 */
export class MemTable<T extends StoredObject> extends ReadTable<T> {
  readonly def: TableDef<T>;
  readonly #rows = new Map<string, T>();
  readonly #indexes = new Map<string, Index<T>>();
  readonly #indexList: Index<T>[];

  constructor(def: TableDef<T>) {
    super();
    this.def = def;
    for (const [name, fn] of Object.entries(def.indexes)) this.#indexes.set(name, { fn, buckets: new Map() });
    this.#indexList = [...this.#indexes.values()];
  }

  get(id: string): T | undefined {
    return this.#rows.get(id);
  }

  all(): T[] {
    return [...this.#rows.values()];
  }

  by(index: string, value: string): T[] {
    const ids = this.ids(index, value);
    if (!ids) return [];
    const out: T[] = [];
    for (const id of ids) out.push(this.#rows.get(id)!);
    return out;
  }

  get size(): number {
    return this.#rows.size;
  }

  /** The live id set of one index value (do not modify); undefined when empty. */
  ids(index: string, value: string): ReadonlySet<string> | undefined {
    return this.index(index).buckets.get(value);
  }

  /** The index function of `index`; `invalid` when the kind has no such index. */
  index(index: string): Index<T> {
    const ix = this.#indexes.get(index);
    if (!ix) {
      const known = [...this.#indexes.keys()].join(', ') || 'none';
      throw new StoreError('invalid', `${this.def.kind}s have no index "${index}" (indexes: ${known})`);
    }
    return ix;
  }

  /** Puts the committed `object`, keeping the indexes current; returns the one it replaced. */
  set(object: T): T | undefined {
    const id = object.id;
    const old = this.#rows.get(id);
    this.#rows.set(id, object);
    for (const ix of this.#indexList) {
      const nv = ix.fn(object);
      const ov = old ? ix.fn(old) : undefined;
      if (ov === nv && old) continue;
      if (ov !== undefined) removeFrom(ix.buckets, ov, id);
      if (nv !== undefined) {
        let b = ix.buckets.get(nv);
        if (!b) ix.buckets.set(nv, (b = new Set()));
        b.add(id);
      }
    }
    return old;
  }

  /** Removes an object; returns it, or undefined if it was not there. */
  remove(id: string): T | undefined {
    const old = this.#rows.get(id);
    if (!old) return undefined;
    this.#rows.delete(id);
    for (const ix of this.#indexList) {
      const ov = ix.fn(old);
      if (ov !== undefined) removeFrom(ix.buckets, ov, id);
    }
    return old;
  }
}

function removeFrom(buckets: Map<string, Set<string>>, value: string, id: string): void {
  const b = buckets.get(value);
  if (!b) return;
  b.delete(id);
  if (b.size === 0) buckets.delete(value);
}
