import type { Etcd3 } from 'etcd3';
import { BackendError } from '../backend.ts';
import { decodeCounter, prefixEnd, type Layout } from './layout.ts';
import { StagedChunks, type CommitRecord, type StagedEntry } from './staged.ts';

/**
 * An etcd revision at which the counter read store revision `revision`, found by reading the
 * counter at past etcd revisions from `startAt` (an etcd revision at or after it): the
 * counter's modRevision there says when it took that value, and every store revision took at
 * least one etcd revision, so each step lands at or above the answer and usually on it.
 * `fail` turns an etcd error into the one to throw (compacted history, unavailable).
 */
export async function findEtcdRevision(client: Etcd3, layout: Layout, revision: number, startAt: number, fail: (err: unknown) => Error): Promise<number> {
  let at = startAt;
  for (;;) {
    let res;
    try {
      res = await client.kv.range({ key: Buffer.from(layout.counterKey), revision: at });
    } catch (err) {
      throw fail(err);
    }
    const kv = res.kvs[0];
    const value = decodeCounter(kv?.value);
    if (value === revision) return at;
    if (kv === undefined || value < revision) {
      throw new BackendError('internal', `store revision ${revision} is not in etcd's history (the counter read ${value} at etcd revision ${at})`);
    }
    at = Number(kv.mod_revision) - (value - revision);
    if (at < 1) return 0; // before etcd's first revision: nothing was committed yet
  }
}

/** The payload of a staged commit, read as of `etcdRevision` (its commit's): for replays from history. */
export async function payloadAt(client: Etcd3, layout: Layout, record: CommitRecord, etcdRevision: number): Promise<StagedEntry[]> {
  const prefix = Buffer.from(`${layout.stagedHeader(record.token)}/`);
  const res = await client.kv.range({ key: prefix, range_end: prefixEnd(prefix), revision: etcdRevision });
  const chunks = new StagedChunks();
  for (const kv of res.kvs) chunks.take(layout, kv.key.toString(), 'Put', kv.value);
  return chunks.payload(record);
}
