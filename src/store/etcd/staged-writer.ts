import { randomBytes } from 'node:crypto';
import type { Etcd3, ICompare, IRequestOp } from 'etcd3';
import { BackendError } from '../backend.ts';
import { envelopeOf } from './batches.ts';
import { PER_OP_OVERHEAD, prefixEnd, type Layout } from './layout.ts';
import { encodePayload, packOps, rollForwardOps, type CommitRecord, type StagedEntry } from './staged.ts';

/** What the staged writer needs from its backend. */
export interface StagedWriterDeps {
  readonly client: Etcd3;
  readonly layout: Layout;
  /** Ops and bytes of one etcd txn (besides the counter's op). */
  readonly maxOps: number;
  readonly maxBytes: number;
  /** Seconds a staging header lives without its writer (`EtcdBackendOptions.stagingLeaseSeconds`). */
  readonly leaseSeconds: number;
  /** Runs one etcd request, its failure as a `BackendError`. */
  call<T>(fn: () => Promise<T>): Promise<T>;
}

/** A staged payload waiting for its commit txn. */
export interface Staging {
  readonly token: string;
  readonly chunks: number;
  readonly header: Buffer;
  readonly lease: string;
}

/**
 * The etcd requests of a staged commit besides the commit txn itself (which the backend sends,
 * with the compares every commit makes): reading what deletes remove, staging the payload,
 * rolling a committed one forward and finalizing it, and removing what a dead writer left.
 */
export class StagedWriter {
  readonly #d: StagedWriterDeps;

  constructor(deps: StagedWriterDeps) {
    this.#d = deps;
  }

  /**
   * The values of `keys` (split ones assembled from `parts` parts) as of the counter value
   * `counter`, or 'moved' when the counter moved on meanwhile (another commit: start over).
   */
  async readValues(keys: ReadonlyArray<{ key: string; parts: number }>, counter: Buffer | undefined): Promise<Map<string, string> | 'moved'> {
    const { client, layout } = this.#d;
    const counterKey = Buffer.from(layout.counterKey);
    const reads: Array<{ key: string; part: number | undefined }> = [];
    for (const k of keys) {
      reads.push({ key: k.key, part: undefined });
      for (let i = 0; i < k.parts; i++) reads.push({ key: k.key, part: i });
    }
    const out = new Map<string, string>();
    const parts = new Map<string, Buffer[]>();
    const per = Math.max(1, this.#d.maxOps - 1);
    for (let at = 0; at < reads.length; at += per) {
      const group = reads.slice(at, at + per);
      const res = await this.#d.call(() =>
        client.kv.txn({
          success: [
            { request_range: { key: counterKey } },
            ...group.map((r) => ({ request_range: { key: r.part === undefined ? layout.dataKey(r.key) : Buffer.from(layout.partKey(r.key, r.part)) } })),
          ],
        }),
      );
      const now = res.responses[0]?.response_range.kvs[0]?.value;
      if (counter === undefined ? now !== undefined : now?.equals(counter) !== true) return 'moved';
      group.forEach((r, i) => {
        const kv = res.responses[i + 1]?.response_range.kvs[0];
        if (!kv) throw new BackendError('internal', `store key ${r.key} is in the index but not in etcd`);
        if (r.part === undefined) out.set(r.key, envelopeOf(kv).value);
        else {
          let list = parts.get(r.key);
          if (!list) parts.set(r.key, (list = []));
          list[r.part] = kv.value;
        }
      });
    }
    for (const [key, list] of parts) out.set(key, Buffer.concat(list).toString());
    return out;
  }

  /** Stages `entries`: a header on a fresh lease (so a dead writer's staging expires), then the chunks. */
  async stage(entries: readonly StagedEntry[]): Promise<Staging> {
    const { client, layout } = this.#d;
    const token = randomBytes(8).toString('hex');
    const chunkBytes = Math.max(1024, this.#d.maxBytes - 1024);
    const chunks = encodePayload(entries, chunkBytes);
    const lease = await this.#d.call(() => client.leaseClient.leaseGrant({ TTL: this.#d.leaseSeconds }));
    const header = Buffer.from(layout.stagedHeader(token));
    // The header goes with the first chunk: chunks without a header are a dead writer's.
    for (let i = 0; i < chunks.length; i++) {
      const success: IRequestOp[] = [{ request_put: { key: Buffer.from(layout.stagedChunk(token, i)), value: chunks[i]! } }];
      if (i === 0) success.push({ request_put: { key: header, value: Buffer.from('staging'), lease: lease.ID } });
      else success.push({ request_range: { key: header, count_only: true } });
      const res = await this.#d.call(() => client.kv.txn({ success }));
      if (i > 0 && Number(res.responses[1]?.response_range.count ?? 0) === 0) {
        throw new BackendError('unavailable', `store unavailable: staging ${token} expired before it was written (slower than ${this.#d.leaseSeconds} s)`);
      }
    }
    return { token, chunks: chunks.length, header, lease: lease.ID };
  }

  /**
   * Writes a committed record's payload into the data keys, then removes the record and its
   * staged chunks, each txn on condition that the counter still holds `counter` (no later
   * commit can have happened while the record is there: every writer finishes it first).
   */
  async rollForward(record: CommitRecord, entries: readonly StagedEntry[], counter: Buffer): Promise<void> {
    const { client, layout } = this.#d;
    const holds: ICompare[] = [{ key: Buffer.from(layout.counterKey), target: 'Value', result: 'Equal', value: counter }];
    for (const group of packOps(rollForwardOps(layout, entries, record.revision), this.#d.maxOps, this.#d.maxBytes)) {
      const res = await this.#d.call(() => client.kv.txn({ compare: holds, success: group }));
      if (!res.succeeded) return; // finished by another backend, and a later commit followed
    }
    const header = Buffer.from(layout.stagedHeader(record.token));
    const chunks = Buffer.from(`${layout.stagedHeader(record.token)}/`);
    await this.#d.call(() =>
      client.kv.txn({
        compare: holds,
        success: [
          { request_delete_range: { key: Buffer.from(layout.commitKey) } },
          { request_delete_range: { key: header } },
          { request_delete_range: { key: chunks, range_end: prefixEnd(chunks) } },
        ],
      }),
    );
  }

  /** Removes staged chunks whose header is gone (their writer died or gave up). */
  async discard(tokens: readonly string[]): Promise<void> {
    const { client, layout } = this.#d;
    for (const token of tokens) {
      const header = Buffer.from(layout.stagedHeader(token));
      const chunks = Buffer.from(`${layout.stagedHeader(token)}/`);
      await this.#d.call(() =>
        client.kv.txn({
          compare: [{ key: header, target: 'Version', result: 'Equal', version: 0 }],
          success: [{ request_delete_range: { key: chunks, range_end: prefixEnd(chunks) } }],
        }),
      );
    }
  }

  /** Gives up our own staging (a lost race): header and chunks go in one txn. */
  async abandon(s: Staging): Promise<void> {
    const chunks = Buffer.from(`${s.header.toString()}/`);
    await this.#d.call(() =>
      this.#d.client.kv.txn({
        success: [{ request_delete_range: { key: s.header } }, { request_delete_range: { key: chunks, range_end: prefixEnd(chunks) } }],
      }),
    );
    this.release(s);
  }

  /** Revokes a staging's lease once nothing is attached to it any more (best effort: it expires anyway). */
  release(s: Staging): void {
    this.#d.client.leaseClient.leaseRevoke({ ID: s.lease }).catch(() => undefined);
  }

  /** Bytes of keys and values (and per-op overhead) of `entries`: what `maxTxnBytes` caps. */
  static sizeOf(entries: readonly StagedEntry[]): number {
    let bytes = 0;
    for (const e of entries) bytes += Buffer.byteLength(e.k) + Buffer.byteLength(e.v ?? '') + Buffer.byteLength(e.pv ?? '') + PER_OP_OVERHEAD;
    return bytes;
  }
}
