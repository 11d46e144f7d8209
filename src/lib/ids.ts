import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A new random object id: 25 lowercase base-36 characters (~129 bits), as SwarmKit uses. */
export function newId(): string {
  const bytes = randomBytes(25);
  let id = '';
  for (const b of bytes) id += ALPHABET[b % 36];
  return id;
}

/** The first 12 characters of an id, as lists show it. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}
