/**
 * IPv4 address and CIDR arithmetic over 32-bit unsigned integers: parsing with located
 * messages, containment, overlap, the n-th sub-range. Pure; no dependency.
 */

/** An IPv4 range: its first address (as an unsigned 32-bit integer) and prefix length. */
export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

/** Parses a dotted IPv4 address; undefined when it is not one. */
export function parseIp(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n >>> 0;
}

/** Formats an unsigned 32-bit integer as a dotted IPv4 address. */
export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The result of `parseCidr`: the range, or why the text is not one. */
export type CidrParse = { readonly ok: true; readonly cidr: Cidr } | { readonly ok: false; readonly error: string };

/**
 * Parses `A.B.C.D/N`. Host bits must be zero (`10.0.0.1/16` is refused: "did you mean
 * 10.0.0.0/16?"), as Docker refuses them for a subnet.
 */
export function parseCidr(text: string): CidrParse {
  const slash = text.indexOf('/');
  if (slash < 0) return { ok: false, error: `${JSON.stringify(text)} is not a CIDR range: expected ADDRESS/PREFIX, like 10.1.0.0/16` };
  const ip = parseIp(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  const prefix = /^[0-9]{1,2}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (ip === undefined) return { ok: false, error: `${JSON.stringify(text)} is not a CIDR range: ${JSON.stringify(text.slice(0, slash))} is not an IPv4 address` };
  if (!(prefix >= 0 && prefix <= 32)) return { ok: false, error: `${JSON.stringify(text)} is not a CIDR range: the prefix length must be 0 to 32` };
  const base = (ip & mask(prefix)) >>> 0;
  if (base !== ip) return { ok: false, error: `${JSON.stringify(text)} has host bits set: did you mean ${formatIp(base)}/${prefix}?` };
  return { ok: true, cidr: { base, prefix } };
}

/** Parses a CIDR known to be valid (stored by Flotilla itself); throws otherwise. */
export function cidr(text: string): Cidr {
  const r = parseCidr(text);
  if (!r.ok) throw new Error(r.error);
  return r.cidr;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.base)}/${c.prefix}`;
}

/** The netmask of a prefix length, as an unsigned 32-bit integer. */
export function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Number of addresses in the range. */
export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The last address of the range. */
export function last(c: Cidr): number {
  return (c.base + size(c) - 1) >>> 0;
}

export function contains(c: Cidr, ip: number): boolean {
  return ((ip & mask(c.prefix)) >>> 0) === c.base;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= last(b) && b.base <= last(a);
}

/** The `index`-th sub-range of length `prefix` inside `c` (index 0 is the first). */
export function subrange(c: Cidr, prefix: number, index: number): Cidr {
  if (prefix < c.prefix || index < 0 || index >= 2 ** (prefix - c.prefix)) {
    throw new RangeError(`no sub-range ${index} of /${prefix} in ${formatCidr(c)}`);
  }
  return { base: (c.base + index * 2 ** (32 - prefix)) >>> 0, prefix };
}

/** The address `offset` places into the range (`at(10.0.3.0/24, 1)` = 10.0.3.1). */
export function at(c: Cidr, offset: number): number {
  if (offset < 0 || offset >= size(c)) throw new RangeError(`offset ${offset} outside ${formatCidr(c)}`);
  return (c.base + offset) >>> 0;
}
