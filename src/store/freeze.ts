/**
 * Freezes `value` and everything reachable from it, stopping at objects already frozen: an
 * updated object shares its unchanged parts with the previous (frozen) version, so only what
 * the writer created is walked.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const v of value) deepFreeze(v);
  } else {
    for (const k in value) deepFreeze((value as Record<string, unknown>)[k]);
  }
  return value;
}
