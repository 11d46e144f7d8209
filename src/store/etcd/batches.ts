import type { IEvent, IKeyValue, IRequestOp } from 'etcd3';
import { BackendError, type BackendLimits, type Op, type WatchBatch, type WatchEvent } from '../backend.ts';
import { decodeCounter, decodeEnvelope, encodeEnvelope, PER_OP_OVERHEAD, type Layout } from './layout.ts';

/**
 * Splits the events of one etcd watch response into the groups of each etcd revision (the
 * events of one etcd txn share its revision, and etcd never splits a revision across responses).
 */
export function byEtcdRevision(events: readonly IEvent[]): Array<{ etcdRevision: number; events: IEvent[] }> {
  const groups: Array<{ etcdRevision: number; events: IEvent[] }> = [];
  for (const ev of events) {
    const rev = Number(ev.kv.mod_revision);
    const last = groups.at(-1);
    if (last && last.etcdRevision === rev) last.events.push(ev);
    else groups.push({ etcdRevision: rev, events: [ev] });
  }
  return groups;
}

/**
 * The store commit one etcd revision holds (and the counter value it put), or undefined when it is not one (a write under the
 * root that did not move the store's revision counter: `compact`'s marker, later parts' keys).
 * Needs the watch's previous values (`withPreviousKV`): they give deletes their value and
 * revisions, and puts their `prevModRevision`.
 */
export function toBatch(layout: Layout, events: readonly IEvent[]): { batch: WatchBatch; counter: Buffer } | undefined {
  let revision: number | undefined;
  let counter: Buffer | undefined;
  const out: Array<{ ev: IEvent; key: string }> = [];
  for (const ev of events) {
    const etcdKey = ev.kv.key.toString();
    if (etcdKey === layout.counterKey) {
      if (ev.type === 'Put') {
        revision = decodeCounter(ev.kv.value);
        counter = ev.kv.value;
      }
      continue;
    }
    const key = layout.storeKey(ev.kv.key);
    if (key !== undefined) out.push({ ev, key });
  }
  if (revision === undefined || counter === undefined) return undefined;
  const rev = revision;
  return { batch: { revision: rev, events: out.map(({ ev, key }) => toWatchEvent(ev, key, rev)) }, counter };
}

function toWatchEvent(ev: IEvent, key: string, revision: number): WatchEvent {
  const prev = ev.prev_kv ? envelopeOf(ev.prev_kv) : undefined;
  if (ev.type === 'Put') {
    const env = envelopeOf(ev.kv);
    const out: { -readonly [K in keyof WatchEvent]: WatchEvent[K] } = {
      type: 'put',
      key,
      value: env.value,
      createRevision: env.createRevision,
      modRevision: env.modRevision,
    };
    if (prev) out.prevModRevision = prev.modRevision;
    return out;
  }
  return deleteEvent(key, revision, prev);
}

/** The event of deleting `key` at `revision`, whose last value was `prev`. */
export function deleteEvent(
  key: string,
  revision: number,
  prev: { createRevision: number; modRevision: number; value: string } | undefined,
): WatchEvent {
  if (!prev) return { type: 'delete', key, createRevision: 0, modRevision: revision };
  return {
    type: 'delete',
    key,
    prevValue: prev.value,
    createRevision: prev.createRevision,
    modRevision: revision,
    prevModRevision: prev.modRevision,
  };
}

/** The envelope of `kv`, as a `BackendError` when a foreign value sits under our prefix. */
export function envelopeOf(kv: IKeyValue): ReturnType<typeof decodeEnvelope> {
  try {
    return decodeEnvelope(kv.value);
  } catch (err) {
    throw new BackendError('internal', `etcd key ${kv.key.toString()}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The watch batch of a commit made as one etcd txn, from what it wrote, the keys' store
 * revisions before it (`index`) and the deleted values etcd returned for its deletes.
 */
export function ownBatch(
  ops: readonly Op[],
  index: ReadonlyMap<string, { readonly c: number; readonly m: number }>,
  deletes: ReadonlyArray<{ prev_kvs: Array<{ value: Buffer; key: Buffer }> } | undefined>,
  revision: number,
): WatchBatch {
  const events = ops.map((op, i): WatchEvent => {
    const old = index.get(op.key);
    if (op.type === 'put') {
      return {
        type: 'put',
        key: op.key,
        value: op.value,
        createRevision: old?.c ?? revision,
        modRevision: revision,
        ...(old ? { prevModRevision: old.m } : {}),
      };
    }
    const prev = deletes[i]?.prev_kvs[0];
    return deleteEvent(op.key, revision, prev ? envelopeOf(prev as IKeyValue) : undefined);
  });
  return { revision, events };
}

/**
 * The etcd ops of a commit at store revision `revision` made as one etcd txn, or undefined
 * when it must be staged: it does not fit `limits`, or it writes a key whose value is split
 * (`index` entries with `n`: its parts must go, and history needs its value).
 */
export function oneTxnOps(
  layout: Layout,
  ops: readonly Op[],
  index: ReadonlyMap<string, { readonly c: number; readonly n?: number }>,
  revision: number,
  limits: BackendLimits,
): IRequestOp[] | undefined {
  if (ops.length > limits.maxOps) return undefined;
  const out: IRequestOp[] = [];
  let bytes = 0;
  for (const op of ops) {
    const key = layout.dataKey(op.key);
    const old = index.get(op.key);
    if (old?.n !== undefined) return undefined;
    if (op.type === 'delete') {
      out.push({ request_delete_range: { key, prev_kv: true } });
      bytes += key.length + PER_OP_OVERHEAD;
      continue;
    }
    const value = encodeEnvelope(old?.c ?? revision, revision, op.value);
    out.push({ request_put: { key, value } });
    bytes += key.length + value.length + PER_OP_OVERHEAD;
    if (bytes > limits.maxBytes) return undefined;
  }
  return out;
}

/** Hands `batch` to a watch subscriber; one that throws hears of it through its `onError`. */
export function safeCall(sub: { onBatch(b: WatchBatch): void; onError(e: Error): void }, batch: WatchBatch): void {
  try {
    sub.onBatch(batch);
  } catch (err) {
    // A throwing subscriber is its own bug; it must not stop delivery to the others.
    try {
      sub.onError(new BackendError('internal', `watch callback threw: ${String(err)}`, { cause: err }));
    } catch {
      // nothing more to do
    }
  }
}
