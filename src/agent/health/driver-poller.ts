import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Driver, HealthState } from '../drivers/driver.ts';
import type { HealthListener } from './monitor.ts';

/**
 * Follows the health a driver judges itself (docker's HEALTHCHECK, the fake driver's
 * `FAKE_HEALTH`) by polling `driver.health(taskId)` every `pollMs`, the first time at once.
 * Tells the listener each change. When the driver says the task has no health check on the
 * first poll, polling ends: the task has no health.
 */
export class DriverHealthPoller {
  readonly #driver: Driver;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #taskId: string;
  readonly #pollMs: number;
  readonly #listener: HealthListener;
  #last: HealthState | undefined;
  #seen = false;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(
    deps: { readonly driver: Driver; readonly clock: Clock; readonly logger: Logger },
    taskId: string,
    pollMs: number,
    listener: HealthListener,
  ) {
    this.#driver = deps.driver;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#taskId = taskId;
    this.#pollMs = pollMs;
    this.#listener = listener;
  }

  start(): void {
    void this.#poll();
  }

  /** Idempotent; no report follows. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  async #poll(): Promise<void> {
    if (this.#stopped) return;
    try {
      const report = await this.#driver.health?.(this.#taskId);
      if (this.#stopped) return;
      if (report === undefined) {
        if (!this.#seen) return; // no health check: nothing to follow
      } else {
        this.#seen = true;
        if (report.status !== this.#last) {
          this.#last = report.status;
          this.#listener(report.status, report.output ?? '');
        }
      }
    } catch (err) {
      // A passing engine hiccup: the next poll tries again (the exit watcher handles a lost task).
      this.#logger.debug({ err, task: this.#taskId }, 'health poll failed');
    }
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(this.#pollMs, () => void this.#poll());
  }
}
