import type { TimerHandle } from '../../../lib/clock.ts';
import type { DriverTask, ExitResult, HandleState, HealthReport, LogLine } from '../driver.ts';
import type { FakeKnobs } from './knobs.ts';

/** Log lines kept per fake process; older ones are dropped (simulations run thousands). */
const MAX_LINES = 1_000;

/**
 * One simulated process of the fake driver. It lives on a `FakeHost`, not in a driver, so it
 * keeps running when the driver that started it is dropped (a simulated agent restart).
 */
export class FakeProcess {
  readonly task: DriverTask;
  readonly knobs: FakeKnobs;
  readonly containerId: string;
  readonly labels: Readonly<Record<string, string>>;
  state: HandleState = 'created';
  pid: number | undefined;
  result: ExitResult | undefined;
  /** Set once a stop signal was handled, so a second stop only waits. */
  stopping = false;
  /** When it started (clock ms), for `FAKE_HEALTH`'s schedule. */
  startedAt: number | undefined;
  /** Set by `FakeHost.setHealth`: overrides `FAKE_HEALTH`. */
  health: HealthReport | undefined;
  #lines: LogLine[] = [];
  /** How many lines were dropped from the front of `#lines`. */
  #dropped = 0;
  #timers = new Set<TimerHandle>();
  #listeners = new Set<() => void>();
  #exit: PromiseWithResolvers<ExitResult> | undefined;

  constructor(task: DriverTask, knobs: FakeKnobs, labels: Record<string, string>) {
    this.task = task;
    this.knobs = knobs;
    this.containerId = `fake-${task.id}`;
    this.labels = labels;
  }

  /** Index one past the last line written. */
  get endIndex(): number {
    return this.#dropped + this.#lines.length;
  }

  /** Index of the oldest line still kept. */
  get firstIndex(): number {
    return this.#dropped;
  }

  lineAt(index: number): LogLine | undefined {
    return this.#lines[index - this.#dropped];
  }

  write(stream: LogLine['stream'], line: string, time: string): void {
    this.#lines.push({ stream, line, time });
    if (this.#lines.length > MAX_LINES) {
      this.#lines.shift();
      this.#dropped++;
    }
    this.#notify();
  }

  /** Keeps a timer so it is cancelled when the process ends. */
  track(timer: TimerHandle): void {
    this.#timers.add(timer);
  }

  untrack(timer: TimerHandle): void {
    this.#timers.delete(timer);
  }

  /** Ends the process with `result`; later calls do nothing (the first exit wins). */
  finish(result: ExitResult): void {
    if (this.state === 'exited') return;
    this.state = 'exited';
    this.result = result;
    for (const t of this.#timers) t.cancel();
    this.#timers.clear();
    this.#exit?.resolve(result);
    this.#notify();
  }

  /** Resolves with the exit result once the process has exited. */
  exited(): Promise<ExitResult> {
    if (this.result) return Promise.resolve(this.result);
    this.#exit ??= Promise.withResolvers<ExitResult>();
    return this.#exit.promise;
  }

  /** How many readers wait for its next line now (followed logs). */
  get followers(): number {
    return this.#listeners.size;
  }

  /** Resolves at the next line, state change or abort. */
  changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.#listeners.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.#listeners.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Tells followers something changed (also used when the process is removed). */
  notify(): void {
    this.#notify();
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }
}

/**
 * The simulated machine the fake driver runs processes on. Pass the same host to a new
 * `FakeDriver` to simulate an agent restart: `recover()` finds the processes still there.
 */
export class FakeHost {
  readonly processes = new Map<string, FakeProcess>();
  #nextPid = 1_000;

  /** A fresh simulated process id. */
  allocatePid(): number {
    return this.#nextPid++;
  }

  /** Number of processes (prepared, running or exited) on the host. */
  get size(): number {
    return this.processes.size;
  }

  /**
   * Makes a running task exit now, as if it crashed or was killed from outside; returns false
   * when the task is not running.
   */
  crash(taskId: string, exitCode: number, reason?: string): boolean {
    const p = this.processes.get(taskId);
    if (!p || p.state !== 'running') return false;
    p.finish(reason === undefined ? { exitCode } : { exitCode, reason });
    return true;
  }

  /**
   * Makes the driver report this health for a task from now on (over its `FAKE_HEALTH`), as if
   * its health check started passing or failing; false when the task is unknown.
   */
  setHealth(taskId: string, health: HealthReport): boolean {
    const p = this.processes.get(taskId);
    if (!p) return false;
    p.health = health;
    return true;
  }
}
