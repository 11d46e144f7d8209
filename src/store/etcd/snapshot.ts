import type { Etcd3, IKeyValue } from 'etcd3';
import { BackendError, type KeyValue, type WatchEvent } from '../backend.ts';
import { deleteEvent, envelopeOf } from './batches.ts';
import { decodeCounter, prefixEnd, type Layout } from './layout.ts';
import { decodeRecord, StagedChunks, type CommitRecord, type StagedEntry } from './staged.ts';

/** The store as of one etcd revision, with what a reader needs to follow on from it. */
export interface Snapshot {
  /** Store keys under the prefix read, in key order, split values assembled, a pending staged commit applied. */
  readonly kvs: KeyValue[];
  readonly revision: number;
  /** The counter's value (undefined at revision 0). */
  readonly counter: Buffer | undefined;
  readonly compacted: number;
  readonly etcdRevision: number;
  /** Store key → parts of its split value (keys with inline values are absent). */
  readonly parts: Map<string, number>;
  /** Every staged chunk and header there was. */
  readonly chunks: StagedChunks;
  /** The committed staged commit the data keys do not hold yet. */
  readonly pending: { readonly record: CommitRecord; readonly entries: StagedEntry[] } | undefined;
}

/**
 * Reads every store key under `prefix`, the counter, the compaction mark, the commit record,
 * the staged chunks and the value parts in one etcd txn (one etcd revision), and resolves them
 * into the store's state: split values assembled, and a committed staged commit not yet rolled
 * forward laid over the data keys (so a reader sees it whole, whatever the roll-forward got to).
 */
export async function readSnapshot(client: Etcd3, layout: Layout, prefix: string, call: <T>(fn: () => Promise<T>) => Promise<T>): Promise<Snapshot> {
  const key = layout.dataKey(prefix);
  const staged = Buffer.from(layout.stagedPrefix);
  const parts = Buffer.from(layout.partsPrefix + prefix);
  const res = await call(() =>
    client.kv.txn({
      success: [
        { request_range: { key, range_end: prefixEnd(key) } },
        { request_range: { key: Buffer.from(layout.counterKey) } },
        { request_range: { key: Buffer.from(layout.compactedKey) } },
        { request_range: { key: Buffer.from(layout.commitKey) } },
        { request_range: { key: staged, range_end: prefixEnd(staged) } },
        { request_range: { key: parts, range_end: prefixEnd(parts) } },
      ],
    }),
  );
  const [data, counter, compacted, commit, stagedKvs, partKvs] = res.responses.map((r) => r.response_range.kvs);
  const partValues = new Map<string, Buffer>((partKvs ?? []).map((kv: IKeyValue) => [kv.key.toString(), kv.value]));
  const splits = new Map<string, number>();
  const byKey = new Map<string, KeyValue>();
  for (const kv of data ?? []) {
    const env = envelopeOf(kv);
    const storeKey = layout.storeKey(kv.key)!;
    let value = env.value;
    if (env.parts > 0) {
      const list: Buffer[] = [];
      for (let i = 0; i < env.parts; i++) {
        const p = partValues.get(layout.partKey(storeKey, i));
        if (!p) throw new BackendError('internal', `store key ${storeKey} lacks part ${i} of ${env.parts} of its value`);
        list.push(p);
      }
      value = Buffer.concat(list).toString();
      splits.set(storeKey, env.parts);
    }
    byKey.set(storeKey, { key: storeKey, value, createRevision: env.createRevision, modRevision: env.modRevision });
  }
  const chunks = new StagedChunks();
  for (const kv of stagedKvs ?? []) chunks.take(layout, kv.key.toString(), 'Put', kv.value);
  const revision = decodeCounter(counter?.[0]?.value);
  const record = commit?.[0] ? decodeRecord(commit[0].value) : undefined;
  let pending: Snapshot['pending'];
  if (record && record.revision === revision) {
    const entries = chunks.payload(record);
    pending = { record, entries };
    let added = false;
    for (const e of entries) {
      if (!e.k.startsWith(prefix)) continue;
      splits.delete(e.k);
      if (e.v === undefined) {
        byKey.delete(e.k);
        continue;
      }
      if (!byKey.has(e.k)) added = true;
      byKey.set(e.k, { key: e.k, value: e.v, createRevision: e.c ?? revision, modRevision: revision });
      if ((e.n ?? 0) > 0) splits.set(e.k, e.n!);
    }
    if (added) return finish([...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
  }
  return finish([...byKey.values()]);

  function finish(kvs: KeyValue[]): Snapshot {
    return {
      kvs,
      revision,
      counter: counter?.[0]?.value,
      compacted: decodeCounter(compacted?.[0]?.value),
      etcdRevision: Number(res.header.revision),
      parts: splits,
      chunks,
      pending,
    };
  }
}

/**
 * What changed from the key index `index` (store key → store revisions) to `snap`: the events
 * of a reload after the watch lost its place. Deletes found this way carry no previous value
 * (it is gone with the history).
 */
export function differences(index: ReadonlyMap<string, { readonly c: number; readonly m: number }>, snap: Snapshot): WatchEvent[] {
  const events: WatchEvent[] = [];
  const seen = new Set<string>();
  for (const kv of snap.kvs) {
    seen.add(kv.key);
    const old = index.get(kv.key);
    if (old && old.m === kv.modRevision) continue;
    events.push({
      type: 'put',
      key: kv.key,
      value: kv.value,
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
      ...(old ? { prevModRevision: old.m } : {}),
    });
  }
  for (const [key, old] of index) {
    if (!seen.has(key)) events.push({ ...deleteEvent(key, snap.revision, undefined), createRevision: old.c, prevModRevision: old.m });
  }
  return events;
}
