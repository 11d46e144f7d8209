import type { Clock, TimerHandle } from '../../lib/clock.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import type { HealthState } from '../drivers/driver.ts';
import { judge, STARTING, type CheckState, type HealthTiming, type ProbeResult } from './judge.ts';

/** One probe attempt; it should give up when `signal` aborts (the check's timeout). */
export type Probe = (signal: AbortSignal) => Promise<ProbeResult>;

/** Told every time the task's health changes (and once at start with the initial health). */
export type HealthListener = (health: HealthState, output: string) => void;

/**
 * Runs one task's agent-side health check: a probe every `intervalMs` (the first one
 * `intervalMs` after start, the next `intervalMs` after the previous one ends, as Docker does),
 * each cut off after `timeoutMs`, judged by `judge.ts`. Driven by the injected clock.
 */
export class HealthMonitor {
  readonly #clock: Clock;
  readonly #timing: HealthTiming;
  readonly #probe: Probe;
  readonly #listener: HealthListener;
  #state: CheckState;
  #startedAt = 0;
  #timer: TimerHandle | undefined;
  #inflight: AbortController | undefined;
  readonly #lifecycle = new Lifecycle('health monitor', { startError: (state) => new Error(`health monitor already ${state}`) });

  constructor(
    deps: { readonly clock: Clock },
    timing: HealthTiming,
    probe: Probe,
    listener: HealthListener,
    /** The health to start from (a task adopted after an agent restart keeps its last one). */
    initial: HealthState = 'starting',
  ) {
    this.#clock = deps.clock;
    this.#timing = timing;
    this.#probe = probe;
    this.#listener = listener;
    this.#state = initial === 'starting' ? STARTING : { health: initial, failures: 0 };
  }

  get health(): HealthState {
    return this.#state.health;
  }

  /** Reports the initial health and schedules the first probe. Starting twice throws. */
  start(): void {
    this.#lifecycle.start();
    this.#startedAt = this.#clock.now();
    this.#listener(this.#state.health, '');
    this.#schedule();
  }

  /** Cancels the next probe and aborts one in flight; idempotent. No report follows. */
  stop(): void {
    // The work is synchronous: it is done when `stop` returns.
    void this.#lifecycle.stop(() => {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#inflight?.abort(new Error('health monitor stopped'));
    });
  }

  #schedule(): void {
    if (!this.#lifecycle.running) return;
    this.#timer = this.#clock.setTimer(this.#timing.intervalMs, () => {
      this.#timer = undefined;
      void this.#check();
    });
  }

  async #check(): Promise<void> {
    const startedProbeAt = this.#clock.now();
    const result = await this.#runProbe();
    if (!this.#lifecycle.running) return;
    const inStartPeriod = startedProbeAt - this.#startedAt < this.#timing.startPeriodMs;
    const before = this.#state.health;
    this.#state = judge(this.#state, result, this.#timing, inStartPeriod);
    if (this.#state.health !== before) this.#listener(this.#state.health, result.output);
    this.#schedule();
  }

  /** The probe, raced against the timeout; never rejects. */
  async #runProbe(): Promise<ProbeResult> {
    const ac = new AbortController();
    this.#inflight = ac;
    const timeoutMs = this.#timing.timeoutMs;
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<ProbeResult>((resolve) => {
      timer = this.#clock.setTimer(timeoutMs, () => {
        const output = `health check timed out after ${timeoutMs}ms`;
        ac.abort(new Error(output));
        resolve({ ok: false, output });
      });
    });
    try {
      const probed = this.#probe(ac.signal).catch((e: unknown): ProbeResult => ({ ok: false, output: messageOf(e) }));
      return await Promise.race([probed, timedOut]);
    } finally {
      timer?.cancel();
      if (this.#inflight === ac) this.#inflight = undefined;
    }
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
