/**
 * The lifecycle every component with a loop shares (STYLE rule 1): a string-union state,
 * starting twice throws, and `stop()` is idempotent and awaited — every call returns the one
 * promise of the one shutdown.
 *
 * ```
 * new ──start──▶ (starting ──▶) running ──stop──▶ stopping ──▶ stopped
 *  └─────────────────────────stop───────────────────────────────▲
 * ```
 * A failed start ends in `stopped`. A stop during `starting` wins: the start then does not
 * reach `running` (`startWith` resolves false).
 */
export type LifecycleState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

export interface LifecycleOptions {
  /** The error starting a second time throws. Default: `Error('<name> cannot start: it is <state>')`. */
  readonly startError?: (state: LifecycleState) => Error;
}

export class Lifecycle {
  readonly #name: string;
  readonly #startError: (state: LifecycleState) => Error;
  #state: LifecycleState = 'new';
  #stopping: Promise<void> | undefined;
  /** The work of a start in flight (`startWith`). */
  #starting: Promise<void> | undefined;

  /** `name` is how errors name the component ("orchestrator cannot start: it is running"). */
  constructor(name: string, options: LifecycleOptions = {}) {
    this.#name = name;
    this.#startError = options.startError ?? ((state) => new Error(`${this.#name} cannot start: it is ${state}`));
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** Whether the component is running (not new, starting, stopping or stopped). */
  get running(): boolean {
    return this.#state === 'running';
  }

  /** new → running in one synchronous step; throws when not new. */
  start(): void {
    this.#assertNew();
    this.#state = 'running';
  }

  /**
   * new → starting, runs `work`, then → running. Throws (rejects) at once when not new. When
   * `work` fails the state is `stopped` and the error is rethrown (`work` cleans up what it made).
   * Resolves false when a stop came during `work`: the component then never runs.
   */
  async startWith(work: () => Promise<void> | void): Promise<boolean> {
    this.#assertNew();
    this.#state = 'starting';
    const starting = (async () => work())();
    this.#starting = starting;
    try {
      await starting;
    } catch (err) {
      // A stop that came meanwhile owns the end state; it ends `stopped` once its work ran.
      if (this.#state === 'starting') this.#state = 'stopped';
      throw err;
    }
    if (this.#state !== 'starting') return false;
    this.#state = 'running';
    return true;
  }

  /**
   * → stopping, runs `work` once, then → stopped (also when `work` fails). Every call returns
   * the promise of that one run. `work` is told the state the stop found: a component stopped
   * while still `new` usually has nothing to undo. A stop during `starting` first waits for the
   * start's work to settle; otherwise the synchronous part of `work` runs before `stop` returns.
   */
  stop(work: (from: LifecycleState) => Promise<void> | void = () => {}): Promise<void> {
    if (!this.#stopping) {
      const from = this.#state;
      this.#state = 'stopping';
      const starting = this.#starting;
      this.#stopping = (async () => {
        try {
          // A start in flight settles first (its failure is the start's to report), so the
          // teardown never races it and a stop resolves only once nothing is left running.
          if (from === 'starting') await starting?.catch(() => {});
          await work(from);
        } finally {
          this.#state = 'stopped';
        }
      })();
    }
    return this.#stopping;
  }

  #assertNew(): void {
    if (this.#state !== 'new') throw this.#startError(this.#state);
  }
}
