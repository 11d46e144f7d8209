/**
 * A small seeded pseudo-random generator (mulberry32) for tests that choose at random and must
 * be repeatable: print the seed, and the same seed gives the same choices.
 */
export class Prng {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /** A seed from `text` (a decimal number) when given, else a fresh one. */
  static seedFrom(text: string | undefined): number {
    if (text !== undefined && text.trim() !== '') {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) throw new Error(`invalid seed "${text}": expected an integer from 0 to 4294967295`);
      return n;
    }
    return Math.floor(Math.random() * 0x1_0000_0000) >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  }

  /** An integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** One of `items` (not empty). */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}
