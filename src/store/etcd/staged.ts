import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { IRequestOp } from 'etcd3';
import { BackendError, type Op, type WatchEvent } from '../backend.ts';
import { deleteEvent } from './batches.ts';
import { encodeEnvelope, encodeSplitEnvelope, PER_OP_OVERHEAD, type Layout } from './layout.ts';

/**
 * A staged commit: a store transaction too large for one etcd txn. Its writes (the payload) are
 * staged in chunks under `<root>/staged/<token>/`, then one small etcd txn commits it — it
 * compares the counter (and whatever else every commit compares), puts the next store
 * revision and the commit record `<root>/meta/commit`. From that txn on, every reader resolves
 * the store revision from the payload; the data keys are rolled forward afterwards (by the
 * writer, or by whichever backend writes next or opens), and a finalize txn removes the record
 * and the staged chunks. See README "Large transactions".
 */

/** One write of a staged commit, with what the key held at the base revision. */
export interface StagedEntry {
  /** Store key. */
  readonly k: string;
  /** New value (a put); absent for a delete. */
  readonly v?: string;
  /** Parts the new value is split into in the data keys (0 or absent: inline). */
  readonly n?: number;
  /** The key's createRevision at the base, when it existed. */
  readonly c?: number;
  /** The key's modRevision at the base, when it existed. */
  readonly pm?: number;
  /** Parts of the key's value at the base (absent: inline). */
  readonly pn?: number;
  /** The deleted value (deletes only). */
  readonly pv?: string;
}

/**
 * The staged entries of `ops` (each key once, deletes only of existing keys) over the key index
 * `index` at the base revision; `prev`: the values the deletes remove; values over `partBytes`
 * bytes are to be split.
 */
export function stagedEntries(
  ops: readonly Op[],
  index: ReadonlyMap<string, { readonly c: number; readonly m: number; readonly n?: number }>,
  prev: ReadonlyMap<string, string>,
  partBytes: number,
): StagedEntry[] {
  return ops.map((op): StagedEntry => {
    const old = index.get(op.key);
    const was = old ? { c: old.c, pm: old.m, ...(old.n ? { pn: old.n } : {}) } : {};
    if (op.type === 'delete') return { k: op.key, ...was, pv: prev.get(op.key) ?? '' };
    const n = partsOf(Buffer.byteLength(op.value), partBytes);
    return { k: op.key, v: op.value, ...(n > 0 ? { n } : {}), ...was };
  });
}

/** `<root>/meta/commit`: which staged chunks hold store revision `revision`. */
export interface CommitRecord {
  readonly revision: number;
  readonly token: string;
  readonly chunks: number;
}

export function encodeRecord(r: CommitRecord): Buffer {
  return Buffer.from(JSON.stringify(r));
}

export function decodeRecord(raw: Buffer): CommitRecord {
  const r = JSON.parse(raw.toString()) as CommitRecord;
  if (!Number.isInteger(r.revision) || typeof r.token !== 'string' || !Number.isInteger(r.chunks)) {
    throw new BackendError('internal', `bad staged commit record: ${raw.toString().slice(0, 80)}`);
  }
  return r;
}

/**
 * The payload as chunks of at most `chunkBytes` bytes (a value may span chunks): its JSON,
 * deflated (level 1: ~2 ms for 1 MB; the JSON of a stack's tasks shrinks ~30x, and staging
 * bytes are pure overhead to etcd).
 */
export function encodePayload(entries: readonly StagedEntry[], chunkBytes: number): Buffer[] {
  const all = deflateRawSync(Buffer.from(JSON.stringify(entries)), { level: 1 });
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; at += chunkBytes) out.push(all.subarray(at, at + chunkBytes));
  return out;
}

/** The payload of `chunks` (in order); throws `internal` when one is missing. */
export function decodePayload(record: CommitRecord, chunks: ReadonlyMap<number, Buffer>): StagedEntry[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < record.chunks; i++) {
    const c = chunks.get(i);
    if (!c) throw new BackendError('internal', `staged commit ${record.token} (store revision ${record.revision}) lacks chunk ${i} of ${record.chunks}`);
    parts.push(c);
  }
  return JSON.parse(inflateRawSync(Buffer.concat(parts)).toString()) as StagedEntry[];
}

/** The watch events of a staged commit at store revision `revision`. */
export function payloadEvents(entries: readonly StagedEntry[], revision: number): WatchEvent[] {
  return entries.map((e): WatchEvent => {
    if (e.v !== undefined) {
      return {
        type: 'put',
        key: e.k,
        value: e.v,
        createRevision: e.c ?? revision,
        modRevision: revision,
        ...(e.pm !== undefined ? { prevModRevision: e.pm } : {}),
      };
    }
    const prev = e.pm !== undefined && e.c !== undefined ? { createRevision: e.c, modRevision: e.pm, value: e.pv ?? '' } : undefined;
    return deleteEvent(e.k, revision, prev);
  });
}

/** One etcd write of a roll-forward, with its request size. */
export interface SizedOp {
  readonly op: IRequestOp;
  readonly bytes: number;
}

/**
 * The etcd writes that make the data keys hold a staged commit at `revision`: inline values
 * as envelopes, split ones as parts plus a split envelope, and the leftover parts of the
 * keys' old values deleted. Idempotent: rolling forward twice writes the same.
 */
export function rollForwardOps(layout: Layout, entries: readonly StagedEntry[], revision: number): SizedOp[] {
  const out: SizedOp[] = [];
  const put = (key: Buffer, value: Buffer): void => {
    out.push({ op: { request_put: { key, value } }, bytes: key.length + value.length + PER_OP_OVERHEAD });
  };
  const del = (key: Buffer): void => {
    out.push({ op: { request_delete_range: { key } }, bytes: key.length + PER_OP_OVERHEAD });
  };
  for (const e of entries) {
    const key = layout.dataKey(e.k);
    const n = e.v === undefined ? 0 : (e.n ?? 0);
    if (e.v === undefined) del(key);
    else if (n === 0) put(key, encodeEnvelope(e.c ?? revision, revision, e.v));
    else {
      const parts = splitValue(e.v, n);
      parts.forEach((p, i) => put(Buffer.from(layout.partKey(e.k, i)), p));
      put(key, encodeSplitEnvelope(e.c ?? revision, revision, n));
    }
    for (let i = n; i < (e.pn ?? 0); i++) del(Buffer.from(layout.partKey(e.k, i)));
  }
  return out;
}

/** How many parts a value of `bytes` bytes is split into with parts of at most `partBytes` (0: inline). */
export function partsOf(bytes: number, partBytes: number): number {
  return bytes <= partBytes ? 0 : Math.ceil(bytes / partBytes);
}

/** `value` in `n` parts of equal size (the last one shorter), so every reader cuts it the same. */
export function splitValue(value: string, n: number): Buffer[] {
  const all = Buffer.from(value);
  const size = Math.ceil(all.length / n);
  return Array.from({ length: n }, (_, i) => all.subarray(i * size, (i + 1) * size));
}

/** `ops` cut into groups that each fit one etcd txn of `maxOps` ops and `maxBytes` bytes. */
export function packOps(ops: readonly SizedOp[], maxOps: number, maxBytes: number): IRequestOp[][] {
  const out: IRequestOp[][] = [];
  let cur: IRequestOp[] = [];
  let bytes = 0;
  for (const o of ops) {
    if (cur.length > 0 && (cur.length + 1 > maxOps || bytes + o.bytes > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(o.op);
    bytes += o.bytes;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * What a backend has seen under `<root>/staged/` (from its snapshot, then its watch): staged
 * chunks by token, and which tokens have a header. A commit record's payload is resolved from
 * here, so following a staged commit reads nothing more from etcd: every chunk was put before
 * the commit, so it is either in the snapshot the watch started after, or in the watch.
 */
export class StagedChunks {
  readonly #chunks = new Map<string, Map<number, Buffer>>();
  readonly #headers = new Set<string>();

  /** Takes one put or delete of an etcd key; false when the key is not a staged one. */
  take(layout: Layout, etcdKey: string, type: 'Put' | 'Delete', value: Buffer): boolean {
    const k = layout.stagedKey(etcdKey);
    if (!k) return false;
    if (k.chunk === undefined) {
      if (type === 'Put') this.#headers.add(k.token);
      else this.#headers.delete(k.token);
      return true;
    }
    let m = this.#chunks.get(k.token);
    if (type === 'Put') {
      if (!m) this.#chunks.set(k.token, (m = new Map()));
      m.set(k.chunk, value);
    } else if (m) {
      m.delete(k.chunk);
      if (m.size === 0) this.#chunks.delete(k.token);
    }
    return true;
  }

  /** The payload a commit record names; throws `internal` when a chunk was never seen. */
  payload(record: CommitRecord): StagedEntry[] {
    return decodePayload(record, this.#chunks.get(record.token) ?? new Map<number, Buffer>());
  }

  /** Tokens whose chunks are left without a header (a writer that died while staging), except `keep`. */
  orphans(keep: string | undefined): string[] {
    return [...this.#chunks.keys()].filter((t) => t !== keep && !this.#headers.has(t));
  }

  /** Forgets everything (before a reload). */
  clear(): void {
    this.#chunks.clear();
    this.#headers.clear();
  }
}
