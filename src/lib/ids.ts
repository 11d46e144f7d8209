import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const ID_LENGTH = 25;
/** Random bytes for many ids at once: one `randomBytes` call per id cost ~3 µs (bench:scheduler). */
const pool = Buffer.alloc(ID_LENGTH * 256);
let used = pool.length;

/** A new random object id: 25 lowercase base-36 characters (~129 bits), as SwarmKit uses. */
export function newId(): string {
  if (used + ID_LENGTH > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  let id = '';
  for (let i = used; i < used + ID_LENGTH; i++) id += ALPHABET[pool[i]! % 36];
  used += ID_LENGTH;
  return id;
}

/** The first 12 characters of an id, as lists show it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
