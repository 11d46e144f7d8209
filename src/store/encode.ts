/**
 * The stored JSON text of an object: `JSON.stringify(object)` without its `version` (the
 * version is the key's modRevision, never stored).
 *
 * Why not just `JSON.stringify`: objects in the store are deeply frozen and share their
 * unchanged parts with earlier versions and with each other (every task of a service holds
 * the same frozen `spec`). The text of a large frozen part is computed once and remembered
 * (weakly, so it goes with the object); only the top level and the parts that changed are
 * serialized again. That halves the cost of writing a task. Small parts are not remembered:
 * serializing them is cheaper than the cache.
 */
export function encodeStored(object: object): string {
  let out = '{';
  const o = object as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (key === 'version') continue;
    const v = o[key];
    let text: string | undefined;
    if (typeof v === 'object' && v !== null && Object.isFrozen(v)) {
      text = texts.get(v);
      if (text === undefined) {
        text = JSON.stringify(v) as string | undefined;
        if (text !== undefined && text.length >= CACHE_FROM) texts.set(v, text);
      }
    } else {
      text = JSON.stringify(v) as string | undefined; // undefined for undefined and functions: skipped, as JSON.stringify does
    }
    if (text === undefined) continue;
    let k = keyTexts.get(key);
    if (k === undefined) {
      k = `${JSON.stringify(key)}:`;
      if (keyTexts.size < 10_000) keyTexts.set(key, k);
    }
    out += out.length === 1 ? k + text : `,${k}${text}`;
  }
  return `${out}}`;
}

/** Frozen parts' JSON of at least this many characters is remembered. */
const CACHE_FROM = 200;
const texts = new WeakMap<object, string>();
/** `"key":` of top-level keys (a fixed, small set per kind). */
const keyTexts = new Map<string, string>();
