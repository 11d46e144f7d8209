import type { WatchEvent } from './backend.ts';
import { deepFreeze } from './freeze.ts';
import { TABLES, type Kind, type ObjectKinds } from './tables.ts';

export type StoreAction = 'create' | 'update' | 'delete';

/**
 * One changed object of a committed transaction. `object` is the new object, or the deleted
 * one for a delete; `old` the object before the change (absent on create, and on updates
 * replayed by `changesSince`). `revision` is the
 * transaction's revision (equal to `object.version` except for deletes).
 */
export type StoreEvent = {
  [K in Kind]: {
    readonly kind: K;
    readonly action: StoreAction;
    readonly object: ObjectKinds[K];
    readonly old?: ObjectKinds[K];
    readonly revision: number;
  };
}[Kind];

export type StoreEventListener = (event: StoreEvent) => void;

const byPrefix = new Map<string, Kind>(Object.values(TABLES).map((d) => [d.prefix, d.kind]));

/** The kind and id a backend key names, or undefined for keys that are not objects (names). */
export function parseKey(key: string): { kind: Kind; id: string } | undefined {
  const slash = key.lastIndexOf('/');
  const kind = byPrefix.get(key.slice(0, slash + 1));
  return kind ? { kind, id: key.slice(slash + 1) } : undefined;
}

/** An object from its stored JSON and its key's modRevision, deeply frozen. */
export function decodeObject<T>(value: string, version: number): T {
  const o = JSON.parse(value) as { version: number };
  o.version = version;
  return deepFreeze(o) as T;
}

/**
 * A backend change as a store event, for history replay where everything comes from the log.
 * Replayed updates carry no `old` (the backend keeps no previous value for puts); deletes
 * carry the deleted object as both `object` and `old`.
 */
export function toStoreEvent(ev: WatchEvent): StoreEvent | undefined {
  const k = parseKey(ev.key);
  if (!k) return undefined;
  if (ev.type === 'delete') {
    if (ev.prevValue === undefined) return undefined;
    const old = decodeObject<ObjectKinds[Kind]>(ev.prevValue, ev.prevModRevision ?? 0);
    return { kind: k.kind, action: 'delete', object: old, old, revision: ev.modRevision } as StoreEvent;
  }
  const object = decodeObject<ObjectKinds[Kind]>(ev.value ?? 'null', ev.modRevision);
  const action = ev.prevModRevision === undefined ? 'create' : 'update';
  return { kind: k.kind, action, object, revision: ev.modRevision } as StoreEvent;
}
