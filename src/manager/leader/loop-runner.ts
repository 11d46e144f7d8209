import { Lifecycle } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Leadership } from './leadership.ts';

/** A control loop as the runner sees it: started once, stopped once (`stop` awaits the loop). */
export interface Loop {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Keys waiting in the loop's work queue, when it has one (for `/metrics`). */
  readonly queueDepth?: number;
}

/**
 * One leader-only loop: its name (for logs) and how to build a fresh instance from `deps`. A
 * new instance is built for every term of leadership, because a loop starts only once.
 */
export interface LeaderLoop<D> {
  readonly name: string;
  create(deps: D): Loop;
}

export interface LeaderLoopRunnerDeps {
  readonly leadership: Leadership;
  readonly logger: Logger;
}

interface Running {
  readonly name: string;
  readonly loop: Loop;
}

/**
 * Runs the leader loops while this manager leads: on becoming leader it builds a fresh
 * instance of each loop and starts them in list order; on losing leadership it stops them at
 * once, in reverse order, awaiting each. Transitions never overlap: a flip during a start or a
 * stop is handled when that one is done, always towards the leadership's current state (a
 * term that lost leadership midway starts no further loop). A term whose loop fails to start
 * is stopped and logged; the next change of leadership tries again.
 */
export class LeaderLoopRunner<D> {
  readonly #leadership: Leadership;
  readonly #logger: Logger;
  readonly #loops: readonly LeaderLoop<D>[];
  readonly #loopDeps: D;
  readonly #lifecycle = new Lifecycle('leader loop runner');
  #unsubscribe: (() => void) | undefined;
  /** The loops of the current term, in start order; undefined while not leading. */
  #term: Running[] | undefined;
  #converging = false;
  #done: Promise<void> = Promise.resolve();
  /** Why the last term failed to start; cleared when a term starts. */
  #startError: unknown;

  constructor(deps: LeaderLoopRunnerDeps, loops: readonly LeaderLoop<D>[], loopDeps: D) {
    this.#leadership = deps.leadership;
    this.#logger = deps.logger.child({ component: 'leader loops' });
    this.#loops = loops;
    this.#loopDeps = loopDeps;
  }

  /** Names of the loops running now (empty while following). */
  get running(): string[] {
    return (this.#term ?? []).map((r) => r.name);
  }

  /** The work queue depth of each running loop that has one (empty while following). */
  get queueDepths(): { readonly loop: string; readonly depth: number }[] {
    const out: { loop: string; depth: number }[] = [];
    for (const r of this.#term ?? []) if (r.loop.queueDepth !== undefined) out.push({ loop: r.name, depth: r.loop.queueDepth });
    return out;
  }

  /**
   * Follows the leadership; when this manager leads now, resolves once its loops run, and
   * rejects (with nothing left running) when one of them fails to start.
   */
  async start(): Promise<void> {
    this.#lifecycle.start();
    this.#unsubscribe = this.#leadership.onChange(() => this.#kick());
    this.#kick();
    await this.settled();
    if (this.#startError !== undefined) {
      const err = this.#startError;
      await this.stop();
      throw err;
    }
  }

  /** Stops following and stops the running loops (awaited). Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async () => {
      this.#unsubscribe?.();
      this.#kick();
      await this.settled();
    });
  }

  /** Resolves once the running loops match the leadership (no start or stop in progress). */
  async settled(): Promise<void> {
    while (this.#converging) await this.#done;
  }

  #wantLoops(): boolean {
    return this.#lifecycle.running && this.#leadership.state === 'leader';
  }

  #kick(): void {
    if (this.#converging) return; // the running pass re-reads the state before it ends
    this.#converging = true;
    this.#done = this.#converge();
  }

  async #converge(): Promise<void> {
    try {
      for (;;) {
        const want = this.#wantLoops();
        if (want && !this.#term) {
          if (!(await this.#startTerm())) break;
        } else if (!want && this.#term) {
          await this.#stopTerm(this.#lifecycle.running ? 'lost leadership' : 'manager stopping');
        } else {
          break;
        }
      }
    } finally {
      // Runs in the same step as the last check above, so no change slips between them.
      this.#converging = false;
    }
  }

  /** Starts a fresh instance of each loop; false when one failed (the started ones are stopped again). */
  async #startTerm(): Promise<boolean> {
    this.#logger.info({ loops: this.#loops.map((l) => l.name) }, 'leading: starting the leader loops');
    const term: Running[] = [];
    this.#term = term;
    for (const l of this.#loops) {
      // Leadership lost (or the manager stopping) midway: start nothing more.
      if (!this.#wantLoops()) return true;
      try {
        const loop = l.create(this.#loopDeps);
        await loop.start();
        term.push({ name: l.name, loop });
      } catch (err) {
        this.#logger.error({ err, loop: l.name }, 'a leader loop failed to start; stopping this term');
        this.#startError = err;
        await this.#stopTerm('a loop failed to start');
        return false;
      }
    }
    this.#startError = undefined;
    return true;
  }

  async #stopTerm(why: string): Promise<void> {
    const term = this.#term ?? [];
    this.#logger.info({ reason: why }, 'stopping the leader loops');
    for (const r of [...term].reverse()) {
      try {
        await r.loop.stop();
      } catch (err) {
        this.#logger.error({ err, loop: r.name }, 'stopping a leader loop failed');
      }
    }
    this.#term = undefined;
  }
}
