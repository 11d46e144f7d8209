/**
 * Where the etcd backend keeps things under its root prefix (default `/flotilla`), so one etcd
 * can hold other things beside it:
 *
 *   <root>/data<key>      a store key; value = envelope (see `encodeEnvelope`)
 *   <root>/meta/revision  the store's revision counter (`<revision> <token>`, `commitToken`); every commit puts it
 *   <root>/meta/compacted the last store revision `compact` was called with (decimal text)
 *   <root>/meta/commit    the staged commit not yet rolled forward (`staged.ts`), if any
 *   <root>/staged/<token> a staged commit's header (on a lease while staging), then its chunks
 *                         under `<root>/staged/<token>/<i>`
 *   <root>/parts<key>#<i> part i of a value too large for one etcd request
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
  readonly commitKey: string;
  readonly stagedPrefix: string;
  readonly partsPrefix: string;
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
    this.commitKey = `${r}/meta/commit`;
    this.stagedPrefix = `${r}/staged/`;
    this.partsPrefix = `${r}/parts`;
    this.electionPrefix = `${r}/election/`;
    this.leaderKey = `${r}/election/leader`;
    this.membersPrefix = `${r}/election/managers/`;
  }

  /** The header of staged commit `token` (exists while its chunks may be committed). */
  stagedHeader(token: string): string {
    return `${this.stagedPrefix}${token}`;
  }

  /** Chunk `i` of staged commit `token`. */
  stagedChunk(token: string, i: number): string {
    return `${this.stagedPrefix}${token}/${i}`;
  }

  /** The token and chunk number of a staged key (chunk undefined for a header), or undefined. */
  stagedKey(etcdKey: string): { token: string; chunk: number | undefined } | undefined {
    if (!etcdKey.startsWith(this.stagedPrefix)) return undefined;
    const rest = etcdKey.slice(this.stagedPrefix.length);
    const slash = rest.indexOf('/');
    if (slash < 0) return { token: rest, chunk: undefined };
    return { token: rest.slice(0, slash), chunk: Number(rest.slice(slash + 1)) };
  }

  /** Part `i` of the split value of store key `key`. */
  partKey(key: string, i: number): string {
    return `${this.partsPrefix}${key}#${i}`;
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

/** Bytes a txn request spends on one op besides its key and value (a generous guess, measured ~10). */
export const PER_OP_OVERHEAD = 32;

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
  /** The value; '' for a split one (`parts` > 0), whose parts are under `Layout.partKey`. */
  readonly value: string;
  /** Number of parts of a value too large for one etcd request; 0 when it is inline. */
  readonly parts: number;
}

/**
 * `<createRevision>:<modRevision>:<value>`. The store's revisions are the store's own counter,
 * not etcd's (which every other user of the etcd bumps too), so each value carries them.
 */
export function encodeEnvelope(createRevision: number, modRevision: number, value: string): Buffer {
  return Buffer.from(`${createRevision}:${modRevision}:${value}`);
}

/**
 * `<createRevision>:<modRevision>*<parts>:` — a value split into `parts` parts (each under
 * `Layout.partKey`), when it is larger than one etcd request. Readers of the old layout refuse
 * it (not a number) rather than read '' as the value.
 */
export function encodeSplitEnvelope(createRevision: number, modRevision: number, parts: number): Buffer {
  return Buffer.from(`${createRevision}:${modRevision}*${parts}:`);
}

/** The envelope in `raw`; throws on text that is not one (a foreign key under our prefix). */
export function decodeEnvelope(raw: Buffer): Envelope {
  const text = raw.toString();
  const a = text.indexOf(':');
  const b = text.indexOf(':', a + 1);
  const createRevision = Number(text.slice(0, a));
  const mod = text.slice(a + 1, b);
  const star = mod.indexOf('*');
  const modRevision = Number(star < 0 ? mod : mod.slice(0, star));
  const parts = star < 0 ? 0 : Number(mod.slice(star + 1));
  if (a < 0 || b < 0 || !Number.isInteger(createRevision) || !Number.isInteger(modRevision) || !Number.isInteger(parts)) {
    throw new Error(`not a flotilla value envelope: ${JSON.stringify(text.slice(0, 40))}`);
  }
  return { createRevision, modRevision, value: text.slice(b + 1), parts };
}

/**
 * The counter's value: the store revision, a space, and the committing txn's random token (so a
 * writer whose commit had an unknown outcome can tell whether the counter is its own).
 */
export function encodeCounter(revision: number, token: string): Buffer {
  return Buffer.from(`${revision} ${token}`);
}

/**
 * The token of a commit: `t<term>.` when it was fenced on a term of leadership
 * (`fence.createRevision`), then `w<writer>.` when the backend was given its writer's id (the
 * manager's id), then the random part, so etcd's history says which term and which manager wrote
 * each commit (`fencedTerm`, `commitWriter` read them back). Counters written before the writer
 * part existed (`t<term>.<random>`, `<random>`) still read: their writer is undefined. The random
 * part is hex and the writer id must hold no `.` or whitespace, so the prefixes cannot be confused.
 */
export function commitToken(random: string, term: number | undefined, writer?: string): string {
  return `${term === undefined ? '' : `t${term}.`}${writer === undefined ? '' : `w${writer}.`}${random}`;
}

/** What a writer id in a commit token may be made of. */
const WRITER_ID = '[A-Za-z0-9_-]+';
const VALID_WRITER = new RegExp(`^${WRITER_ID}$`);
const COMMIT_WRITER = new RegExp(`^\\d+ (?:t\\d+\\.)?w(${WRITER_ID})\\.`);

/** Whether `id` can name a writer in a commit token (`commitToken`). */
export function isWriterId(id: string): boolean {
  return VALID_WRITER.test(id);
}

/** The term a counter value's commit was fenced on (`commitToken`), or undefined when it was not fenced. */
export function fencedTerm(raw: Buffer | undefined): number | undefined {
  const m = raw === undefined ? null : /^\d+ t(\d+)\./.exec(raw.toString());
  return m ? Number(m[1]) : undefined;
}

/** The writer (manager id) a counter value's commit names (`commitToken`), or undefined when it names none. */
export function commitWriter(raw: Buffer | undefined): string | undefined {
  const m = raw === undefined ? null : COMMIT_WRITER.exec(raw.toString());
  return m ? m[1] : undefined;
}

/** The store revision a counter value names (0 when the counter does not exist yet). */
export function decodeCounter(raw: Buffer | undefined): number {
  if (raw === undefined) return 0;
  const n = Number(raw.toString().split(' ')[0]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`bad store revision counter: ${JSON.stringify(raw.toString())}`);
  return n;
}
