/**
 * Where the etcd backend keeps things under its root prefix (default `/flotilla`), so one etcd
 * can hold other things beside it:
 *
 *   <root>/data<key>      a store key; value = envelope (see `encodeEnvelope`)
 *   <root>/meta/revision  the store's revision counter (`<revision> <token>`); every commit puts it
 *   <root>/meta/compacted the last store revision `compact` was called with (decimal text)
 *   <root>/election/leader           the leader's key (value: its manager id), under its lease
 *   <root>/election/managers/<id>    each live manager (`{id, nodeId?, addr}`), under its lease
 *
 * Everything else under `<root>/` is free for later parts; a change outside `data` bumps
 * etcd's revision but never the store's.
 */
export class Layout {
  readonly root: string;
  readonly dataPrefix: string;
  readonly counterKey: string;
  readonly compactedKey: string;
  /** Everything of the election (`election.ts`): the leader key and the members. */
  readonly electionPrefix: string;
  readonly leaderKey: string;
  readonly membersPrefix: string;

  constructor(root: string) {
    const r = root.endsWith('/') ? root.slice(0, -1) : root;
    this.root = r;
    this.dataPrefix = `${r}/data`;
    this.counterKey = `${r}/meta/revision`;
    this.compactedKey = `${r}/meta/compacted`;
    this.electionPrefix = `${r}/election/`;
    this.leaderKey = `${r}/election/leader`;
    this.membersPrefix = `${r}/election/managers/`;
  }

  /** The etcd key of store key `key`. */
  dataKey(key: string): Buffer {
    return Buffer.from(this.dataPrefix + key);
  }

  /** The store key of etcd key `etcdKey`, or undefined when it is not a data key. */
  storeKey(etcdKey: Buffer): string | undefined {
    const k = etcdKey.toString();
    return k.startsWith(this.dataPrefix) ? k.slice(this.dataPrefix.length) : undefined;
  }
}

/** The `range_end` that makes a range cover every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key (etcd's convention for "to the end")
}

/** A stored value with the store revisions it was created and last modified at. */
export interface Envelope {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly value: string;
}

/**
 * `<createRevision>:<modRevision>:<value>`. The store's revisions are the store's own counter,
 * not etcd's (which every other user of the etcd bumps too), so each value carries them.
 */
export function encodeEnvelope(createRevision: number, modRevision: number, value: string): Buffer {
  return Buffer.from(`${createRevision}:${modRevision}:${value}`);
}

/** The envelope in `raw`; throws on text that is not one (a foreign key under our prefix). */
export function decodeEnvelope(raw: Buffer): Envelope {
  const text = raw.toString();
  const a = text.indexOf(':');
  const b = text.indexOf(':', a + 1);
  const createRevision = Number(text.slice(0, a));
  const modRevision = Number(text.slice(a + 1, b));
  if (a < 0 || b < 0 || !Number.isInteger(createRevision) || !Number.isInteger(modRevision)) {
    throw new Error(`not a flotilla value envelope: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return { createRevision, modRevision, value: text.slice(b + 1) };
}

/**
 * The counter's value: the store revision, a space, and the committing txn's random token (so a
 * writer whose commit had an unknown outcome can tell whether the counter is its own).
 */
export function encodeCounter(revision: number, token: string): Buffer {
  return Buffer.from(`${revision} ${token}`);
}

/** The store revision a counter value names (0 when the counter does not exist yet). */
export function decodeCounter(raw: Buffer | undefined): number {
  if (raw === undefined) return 0;
  const n = Number(raw.toString().split(' ')[0]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`bad store revision counter: ${JSON.stringify(raw.toString())}`);
  return n;
}
