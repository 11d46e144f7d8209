import { isoTime, type Clock } from '../../../lib/clock.ts';
import { abortable } from '../abortable.ts';
import {
  DriverError,
  type Driver,
  type DriverTask,
  type ExitResult,
  type Fingerprint,
  type HealthReport,
  type Inspection,
  type LogLine,
  type LogOptions,
  type StartResult,
  type StopOptions,
} from '../driver.ts';
import { taskLabels } from '../labels.ts';
import { killedExitCode, normalizeSignal } from '../signals.ts';
import { FakeHost, FakeProcess } from './fake-host.ts';
import { healthAt, parseKnobs } from './knobs.ts';

/** Options of `FakeDriver`. */
export interface FakeDriverOptions {
  /** The node this driver runs on; `recover()` returns only this node's tasks. */
  readonly nodeId: string;
  /** Time for run, prepare, stop and tick delays. */
  readonly clock: Clock;
  /** The simulated machine; default a new empty one. Share it to simulate agent restarts. */
  readonly host?: FakeHost;
}

/**
 * A real in-process driver for tests and simulated nodes. Tasks behave as their `FAKE_*` env
 * knobs say (see `knobs.ts`); nothing runs outside this process, and an idle task costs a
 * map entry and at most one timer.
 */
export class FakeDriver implements Driver {
  readonly name = 'fake';
  readonly host: FakeHost;
  readonly #nodeId: string;
  readonly #clock: Clock;

  constructor(options: FakeDriverOptions) {
    this.#nodeId = options.nodeId;
    this.#clock = options.clock;
    this.host = options.host ?? new FakeHost();
  }

  fingerprint(): Promise<Fingerprint> {
    return Promise.resolve({ available: true, engine: { name: 'fake', version: '1' } });
  }

  async prepare(task: DriverTask, signal?: AbortSignal): Promise<void> {
    if (this.host.processes.has(task.id)) return;
    const knobs = parseKnobs(task.spec.container.env);
    if (knobs.prepareMs > 0) await this.#clock.sleep(knobs.prepareMs, signal);
    if (knobs.prepareError !== undefined) throw new DriverError('image_not_found', knobs.prepareError);
    if (this.host.processes.has(task.id)) return;
    this.host.processes.set(task.id, new FakeProcess(task, knobs, taskLabels(task)));
  }

  async start(taskId: string): Promise<StartResult> {
    const p = this.#get(taskId);
    if (p.state === 'created') {
      if (p.knobs.startError !== undefined) throw new DriverError('start_failed', p.knobs.startError);
      this.#run(p);
    }
    return p.pid === undefined ? { containerId: p.containerId } : { containerId: p.containerId, pid: p.pid };
  }

  wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    const p = this.host.processes.get(taskId);
    if (!p) return Promise.reject(notFound(taskId));
    return abortable(p.exited(), signal);
  }

  async stop(taskId: string, options: StopOptions): Promise<void> {
    const p = this.host.processes.get(taskId);
    if (!p || p.state !== 'running') return;
    const sig = normalizeSignal(options.signal);
    if (!p.stopping) {
      p.stopping = true;
      const kill = (): void => p.finish({ exitCode: 137, reason: `killed by SIGKILL after the ${options.gracePeriodMs}ms grace period` });
      if (sig === 'SIGKILL') {
        p.finish({ exitCode: 137, reason: 'killed by SIGKILL' });
      } else {
        if (!p.knobs.ignoreStop) {
          const code = p.knobs.trap.get(sig) ?? killedExitCode(sig);
          if (p.knobs.stopMs === 0) p.finish({ exitCode: code });
          else p.track(this.#clock.setTimer(p.knobs.stopMs, () => p.finish({ exitCode: code })));
        }
        if (p.state === 'running') p.track(this.#clock.setTimer(options.gracePeriodMs, kill));
      }
    }
    await p.exited();
  }

  remove(taskId: string): Promise<void> {
    const p = this.host.processes.get(taskId);
    if (p) {
      this.host.processes.delete(taskId);
      p.finish({ exitCode: 137, reason: 'removed' });
      p.notify();
    }
    return Promise.resolve();
  }

  inspect(taskId: string): Promise<Inspection | undefined> {
    const p = this.host.processes.get(taskId);
    return Promise.resolve(p && inspection(p));
  }

  async *logs(taskId: string, options: LogOptions, signal?: AbortSignal): AsyncIterable<LogLine> {
    const p = this.#get(taskId);
    let next = options.tail === undefined ? p.firstIndex : Math.max(p.firstIndex, p.endIndex - options.tail);
    for (;;) {
      next = Math.max(next, p.firstIndex);
      while (next < p.endIndex) {
        const line = p.lineAt(next++);
        if (line) yield line;
        if (signal?.aborted) return;
      }
      if (!options.follow || p.state === 'exited' || signal?.aborted || !this.host.processes.has(taskId)) return;
      await p.changed(signal);
    }
  }

  /** From `host.setHealth`, else `FAKE_HEALTH`'s schedule since the start; undefined without either. */
  health(taskId: string): Promise<HealthReport | undefined> {
    const p = this.host.processes.get(taskId);
    if (!p || p.startedAt === undefined) return Promise.resolve(undefined);
    if (p.health) return Promise.resolve(p.health);
    const steps = p.knobs.health;
    if (!steps) return Promise.resolve(undefined);
    const status = healthAt(steps, this.#clock.now() - p.startedAt);
    return Promise.resolve(status === 'unhealthy' ? { status, output: 'fake health check failed' } : { status });
  }

  recover(): Promise<Inspection[]> {
    const found: Inspection[] = [];
    for (const p of this.host.processes.values()) {
      if (p.task.nodeId === this.#nodeId) found.push(inspection(p));
    }
    return Promise.resolve(found);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  #get(taskId: string): FakeProcess {
    const p = this.host.processes.get(taskId);
    if (!p) throw notFound(taskId);
    return p;
  }

  #run(p: FakeProcess): void {
    const clock = this.#clock;
    const { knobs } = p;
    p.state = 'running';
    p.startedAt = clock.now();
    p.pid = this.host.allocatePid();
    const now = isoTime(clock);
    for (const line of knobs.stdout) p.write('stdout', line, now);
    for (const line of knobs.stderr) p.write('stderr', line, now);
    if (knobs.runMs !== undefined) {
      p.track(clock.setTimer(knobs.runMs, () => p.finish({ exitCode: knobs.exitCode })));
    }
    if (knobs.tickMs > 0) {
      let n = 0;
      const tick = (): void => {
        p.untrack(timer);
        if (p.state !== 'running') return;
        p.write('stdout', `tick-${n++}`, isoTime(clock));
        if (knobs.ticks > 0 && n >= knobs.ticks) p.finish({ exitCode: 0 });
        else p.track((timer = clock.setTimer(knobs.tickMs, tick)));
      };
      let timer = clock.setTimer(0, tick);
      p.track(timer);
    }
  }
}

function inspection(p: FakeProcess): Inspection {
  return {
    taskId: p.task.id,
    state: p.state,
    containerId: p.containerId,
    ...(p.pid === undefined ? {} : { pid: p.pid }),
    ...(p.result === undefined ? {} : { exitCode: p.result.exitCode }),
    labels: p.labels,
    // The addresses it was prepared with, as a real driver records them.
    ...(p.task.networks?.length ? { networks: p.task.networks.map((n) => ({ networkId: n.networkId, addr: n.address })) } : {}),
  };
}

function notFound(taskId: string): DriverError {
  return new DriverError('not_found', `no fake task ${taskId} on this host`);
}
