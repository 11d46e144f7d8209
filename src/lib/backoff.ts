/**
 * Exponential backoff: how long to wait before the n-th retry. Pure arithmetic plus an
 * optional injected random source for jitter, so tests are deterministic.
 */

export interface BackoffOptions {
  /** Delay before the first retry. Default 100 ms. */
  initialMs?: number;
  /** Upper bound of any delay. Default 30 s. */
  maxMs?: number;
  /** Growth per retry. Default 2. */
  factor?: number;
  /**
   * Fraction of the delay randomised away (0..1): a delay d becomes a value in
   * [d·(1−jitter), d]. Default 0 (deterministic).
   */
  jitter?: number;
  /** Random source in [0, 1) for jitter. Default `Math.random`. */
  random?: () => number;
}

/** Backoff options with every field filled and checked. */
export interface CompiledBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: number;
  readonly random: () => number;
}

/** Fills defaults and checks ranges; throws a RangeError naming the bad field. */
export function compileBackoff(options: BackoffOptions = {}): CompiledBackoff {
  const initialMs = options.initialMs ?? 100;
  const maxMs = options.maxMs ?? 30_000;
  const factor = options.factor ?? 2;
  const jitter = options.jitter ?? 0;
  if (!(initialMs >= 0)) throw new RangeError(`backoff initialMs must be >= 0, got ${initialMs}`);
  if (!(maxMs >= initialMs)) throw new RangeError(`backoff maxMs (${maxMs}) must be >= initialMs (${initialMs})`);
  if (!(factor >= 1)) throw new RangeError(`backoff factor must be >= 1, got ${factor}`);
  if (!(jitter >= 0 && jitter <= 1)) throw new RangeError(`backoff jitter must be within 0..1, got ${jitter}`);
  return { initialMs, maxMs, factor, jitter, random: options.random ?? Math.random };
}

/**
 * Delay before retry number `attempt` (1 = first retry): initialMs·factor^(attempt−1), capped
 * at maxMs, then reduced by up to `jitter` of itself.
 */
export function backoffDelay(attempt: number, b: CompiledBackoff): number {
  const n = Math.max(1, Math.floor(attempt));
  // Cap the exponent so huge attempt counts cannot overflow to Infinity/NaN.
  const raw = b.initialMs * Math.pow(b.factor, Math.min(n - 1, 64));
  const capped = Math.min(b.maxMs, raw);
  if (b.jitter === 0) return capped;
  return Math.round(capped * (1 - b.jitter * b.random()));
}

/** A stateful backoff for one retrying activity: `next()` after a failure, `reset()` after a success. */
export class Backoff {
  readonly #options: CompiledBackoff;
  #attempts = 0;

  constructor(options: BackoffOptions = {}) {
    this.#options = compileBackoff(options);
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }

  /** Records a failure and returns how long to wait before the next try. */
  next(): number {
    this.#attempts++;
    return backoffDelay(this.#attempts, this.#options);
  }

  reset(): void {
    this.#attempts = 0;
  }
}
