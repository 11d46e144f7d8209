import type { TaskAddress } from '../../api/network.ts';
import type { Task, TaskState, TaskStatus } from '../../api/task.ts';
import { isAtOrAfter, isBefore, isTerminal, movesForward } from '../../api/task-state.ts';
import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Driver, DriverTask, HealthState, Inspection } from '../drivers/driver.ts';
import { watchHealth, type HealthWatch } from '../health/task-health.ts';
import { notifyEnded, runPoststop, runPrestart, runPrestop, type TaskHook } from './hooks.ts';
import type { DriverOperation, ExecutorMetrics } from './metrics.ts';
import { nextAction, type Phase, type Want } from './phase.ts';

/** Where a runner sends the statuses it observes (the agent's status reporter). */
export type StatusSink = (taskId: string, status: TaskStatus) => void;

export interface TaskRunnerDeps {
  /** The task's driver; undefined when this node lacks it (the task is then rejected). */
  readonly driver: Driver | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly report: StatusSink;
  /** How often a driver-judged health (docker HEALTHCHECK) is polled at most; default 1 s. */
  readonly healthPollMs?: number;
  /**
   * The node's task hooks, in order (see `hooks.ts`): `prestart` before the driver prepares the
   * task, `poststop` in reverse once its process is removed. Absent: none.
   */
  readonly hooks?: readonly TaskHook[];
  /** Told start latencies, driver errors and health results (the agent's `/metrics`). Absent: nothing. */
  readonly metrics?: ExecutorMetrics;
}

/**
 * Runs one task through its driver: a one-way state machine (see `phase.ts`) driven by the
 * task's desired state. Reports accepted → preparing → starting → running → complete | failed,
 * or rejected when the driver cannot prepare it, or shutdown when the manager stops it.
 * While running, a task with a health check reports `status.health` changes (same state); an
 * `unhealthy` task is reported `failed` ("unhealthy: …") and stopped, so its restart policy
 * replaces it.
 * Created with an `Inspection` it adopts what the driver recovered instead of starting anew.
 */
export class TaskRunner {
  readonly taskId: string;
  readonly #deps: TaskRunnerDeps;
  #task: Task;
  #want: Want;
  #phase: Phase;
  /** The last state this runner reported or found in the store; reports only move forward. */
  #state: TaskState;
  #stopping = false;
  #halted = false;
  /** The last status reported (or the store's): health changes refine it. */
  #last: TaskStatus;
  #health: HealthWatch | undefined;
  /** When this runner accepted the task (clock ms), for the start latency. */
  #acceptedAt = 0;
  /**
   * The task's addresses on its networks, once attached (the network hook's, or the adopted
   * process's): part of every status reported from then on.
   */
  #networks: readonly TaskAddress[] | undefined;
  /** A finished task found with no process: its hooks' `poststop` runs once at the start. */
  #sweepHooks = false;
  readonly #abort = new AbortController();
  /**
   * While the task is being prepared: aborted when the agent stops, or when the manager no
   * longer wants the task running (a prestart hook may wait long, e.g. for a network that was
   * removed with the task's stack; the task then ends at once instead of after that wait).
   */
  #preparing: AbortController | undefined;
  #wake: (() => void) | undefined;
  readonly #loop: Promise<void>;

  constructor(deps: TaskRunnerDeps, task: Task, adopted?: Inspection) {
    this.#deps = deps;
    this.taskId = task.id;
    this.#task = task;
    this.#want = task.desiredState;
    this.#state = task.status.state;
    this.#last = task.status;
    const known = adopted?.networks ?? task.status.networks;
    if (known?.length) this.#networks = known;
    this.#phase = this.#initialPhase(adopted);
    // An adopted running task resumes its health check (from its last reported health).
    if (this.#phase === 'running' && !isTerminal(this.#state)) this.#watchHealth();
    this.#loop = this.#run();
  }

  get phase(): Phase {
    return this.#phase;
  }

  get driver(): Driver | undefined {
    return this.#deps.driver;
  }

  /** A newer copy of the task from the manager (its desired state may have changed). */
  update(task: Task): void {
    if (this.#want === 'gone') return;
    this.#task = task;
    this.#want = task.desiredState;
    if (this.#want !== 'running') this.#preparing?.abort(new Error('no longer wanted running'));
    this.#poke();
  }

  /** The task is no longer assigned: stop and remove its process, report nothing. Resolves when done. */
  destroy(): Promise<void> {
    this.#want = 'gone';
    this.#preparing?.abort(new Error('no longer assigned'));
    this.#poke();
    return this.#loop;
  }

  /** The agent is stopping: leave the process as it is (it is adopted after a restart). */
  halt(): Promise<void> {
    this.#halted = true;
    this.#stopHealth();
    this.#abort.abort(new Error('agent stopping'));
    this.#poke();
    return this.#loop;
  }

  #initialPhase(adopted: Inspection | undefined): Phase {
    const state = this.#task.status.state;
    if (isTerminal(state)) {
      // Finished before; a process still alive (an agent crash mid-stop) gets stopped.
      if (adopted?.state === 'running') {
        this.#watchExit();
        return 'running';
      }
      // Nothing left of its process: its hooks' cleanup may not have run (an agent crash
      // between remove and poststop), so it runs once more (poststop is idempotent).
      if (!adopted) this.#sweepHooks = true;
      return adopted ? 'exited' : 'removed';
    }
    if (adopted?.state === 'running') {
      if (isBefore(state, 'running')) this.#report('running', 'started', ids(adopted));
      this.#watchExit();
      return 'running';
    }
    if (adopted?.state === 'exited') {
      this.#reportExit(adopted.exitCode ?? 0, undefined);
      return 'exited';
    }
    if (adopted?.state === 'created') return 'prepared';
    if (isAtOrAfter(state, 'starting')) {
      this.#report('failed', 'task lost', { err: 'the task\'s process was gone when the agent came back' });
      return 'exited';
    }
    return 'assigned';
  }

  async #run(): Promise<void> {
    if (this.#sweepHooks) {
      await runPoststop(this.#deps.hooks ?? [], this.taskId, (h, e) => this.#hookCleanupFailed(h, e)).catch(() => undefined);
    }
    for (;;) {
      if (this.#halted) return;
      // A finished task the manager still wants running is not restarted (a new task is).
      const want = this.#want === 'running' && isTerminal(this.#state) ? 'shutdown' : this.#want;
      const action = nextAction(this.#phase, want);
      try {
        switch (action) {
          case 'done':
            return;
          case 'wait':
            await new Promise<void>((resolve) => (this.#wake = resolve));
            break;
          case 'prepare':
            await this.#prepare();
            break;
          case 'start':
            await this.#start();
            break;
          case 'stop':
            await this.#stop();
            break;
          case 'finish':
            this.#report('shutdown', 'shut down before it started');
            this.#phase = 'stopped';
            break;
          case 'remove':
            await this.#remove();
            break;
        }
      } catch (err) {
        if (this.#halted) return;
        if (action === 'stop' || action === 'remove') this.#driverError(action);
        // Driver calls that must not fail (stop, remove) did: retry after a pause.
        this.#deps.logger.warn({ err, task: this.taskId, action }, 'task action failed; retrying');
        await this.#deps.clock.sleep(1_000, this.#abort.signal).catch(() => undefined);
      }
    }
  }

  async #prepare(): Promise<void> {
    const driver = this.#deps.driver;
    this.#acceptedAt = this.#deps.clock.now();
    this.#report('accepted', 'accepted');
    if (!driver) {
      this.#report('rejected', 'rejected', { err: `driver ${this.#task.spec.driver} is not available on this node` });
      this.#phase = 'rejected';
      return;
    }
    this.#report('preparing', 'preparing');
    const hooks = this.#deps.hooks ?? [];
    const prep = new AbortController();
    const onHalt = (): void => prep.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onHalt, { once: true });
    this.#preparing = prep;
    try {
      const pre = await runPrestart(hooks, this.#task, prep.signal, (h, e) => this.#hookCleanupFailed(h, e));
      // Cut short because the manager no longer wants it: the phase stays `assigned`, and the
      // loop finishes it as a task that never started (shutdown, or removed).
      if (this.#halted || (!pre.ok && prep.signal.aborted)) return;
      if (!pre.ok) {
        this.#report('rejected', 'rejected', { err: pre.error.message });
        this.#phase = 'rejected';
        return;
      }
      try {
        await driver.prepare({ ...driverTask(this.#task), ...pre.prepared }, prep.signal);
        if (pre.prepared.networks?.length) this.#networks = pre.prepared.networks.map((n) => ({ networkId: n.networkId, addr: n.address }));
      } catch (err) {
        if (this.#halted) return;
        await runPoststop(hooks, this.taskId, (h, e) => this.#hookCleanupFailed(h, e)).catch(() => undefined);
        if (prep.signal.aborted) return;
        this.#driverError('prepare');
        this.#report('rejected', 'rejected', { err: messageOf(err) });
        this.#phase = 'rejected';
        return;
      }
      this.#phase = 'prepared';
    } finally {
      this.#preparing = undefined;
      this.#abort.signal.removeEventListener('abort', onHalt);
    }
  }

  async #start(): Promise<void> {
    const driver = this.#deps.driver;
    if (!driver) throw new Error('no driver');
    this.#report('starting', 'starting');
    let started;
    try {
      started = await driver.start(this.taskId);
    } catch (err) {
      if (this.#halted) return;
      this.#driverError('start');
      this.#report('failed', 'failed to start', { err: messageOf(err) });
      this.#phase = 'exited';
      return;
    }
    this.#phase = 'running';
    this.#deps.metrics?.taskStarted(this.#task.spec.driver, (this.#deps.clock.now() - this.#acceptedAt) / 1000);
    this.#report('running', 'started', ids(started));
    this.#watchExit();
    this.#watchHealth();
  }

  #watchExit(): void {
    const driver = this.#deps.driver;
    if (!driver) return;
    driver.wait(this.taskId, this.#abort.signal).then(
      (exit) => {
        this.#stopHealth();
        if (this.#halted || this.#phase !== 'running') return;
        if (!this.#stopping) {
          this.#ended();
          this.#reportExit(exit.exitCode, exit.reason);
        }
        this.#phase = 'exited';
        this.#poke();
      },
      (err: unknown) => {
        this.#stopHealth();
        if (this.#halted || this.#phase !== 'running' || this.#stopping) return;
        this.#driverError('wait');
        this.#ended();
        this.#report('failed', 'task lost', { err: `lost track of the process: ${messageOf(err)}` });
        this.#phase = 'exited';
        this.#poke();
      },
    );
  }

  async #stop(): Promise<void> {
    const c = this.#task.spec.container;
    this.#stopping = true;
    this.#stopHealth();
    // Hooks drain the task (out of the load balancers and DNS) before its stop signal.
    if (this.#phase === 'running') await runPrestop(this.#deps.hooks ?? [], this.taskId, this.#abort.signal, (h, e) => this.#hookCleanupFailed(h, e));
    if (this.#halted) return;
    await this.#deps.driver?.stop(this.taskId, { signal: c.stopSignal, gracePeriodMs: c.stopGracePeriodMs });
    if (this.#halted) return;
    if (this.#phase === 'running' || this.#phase === 'exited') this.#phase = 'stopped';
    if (this.#want !== 'gone') this.#report('shutdown', 'stopped');
  }

  /** The process ended or turned unhealthy: the hooks hear it before the status goes out. */
  #ended(): void {
    notifyEnded(this.#deps.hooks ?? [], this.taskId, (h, e) => this.#hookCleanupFailed(h, e));
  }

  #driverError(operation: DriverOperation): void {
    this.#deps.metrics?.driverError(this.#task.spec.driver, operation);
  }

  /** Logs a hook's failed cleanup that is not retried (the task's outcome stands). */
  #hookCleanupFailed(hook: string, err: unknown): void {
    this.#deps.logger.warn({ err, task: this.taskId, hook }, 'task hook failed; the task goes on');
  }

  async #remove(): Promise<void> {
    await this.#deps.driver?.remove(this.taskId);
    await runPoststop(this.#deps.hooks ?? [], this.taskId);
    if (this.#halted) return;
    this.#phase = 'removed';
    if (this.#want !== 'gone') this.#report('shutdown', 'removed');
  }

  /** Starts the task's health check, if it has one (see `health/`). */
  #watchHealth(): void {
    const driver = this.#deps.driver;
    if (!driver || this.#health) return;
    const { clock, logger, healthPollMs } = this.#deps;
    const metrics = this.#deps.metrics;
    const deps = {
      driver,
      clock,
      logger,
      ...(healthPollMs === undefined ? {} : { pollMs: healthPollMs }),
      ...(metrics ? { onProbe: (kind: 'http' | 'tcp' | 'command', ok: boolean) => metrics.healthProbe(kind, ok) } : {}),
    };
    const task = { id: this.taskId, check: this.#task.spec.container.healthcheck, health: this.#task.status.health };
    this.#health = watchHealth(deps, task, (health, output) => this.#onHealth(health, output));
  }

  #stopHealth(): void {
    this.#health?.stop();
  }

  /**
   * A health change of the running task: reported as a refinement of its `running` status;
   * `unhealthy` fails the task at once (as Swarm does, so its replacement need not wait for the
   * grace period) and the run loop then stops it.
   */
  #onHealth(health: HealthState, output: string): void {
    if (this.#halted || this.#stopping || this.#phase !== 'running' || this.#state !== 'running') return;
    if (this.#last.health === health) return;
    this.#deps.metrics?.healthChanged(health);
    if (health === 'unhealthy') {
      this.#stopHealth();
      const reason = output.trim() === '' ? 'health check failed' : output.trim();
      this.#ended();
      this.#report('failed', 'unhealthy', { ...ids(this.#last), health, err: `unhealthy: ${reason}` });
      this.#poke();
      return;
    }
    this.#last = { ...this.#last, ...(this.#networks === undefined ? {} : { networks: [...this.#networks] }), health };
    this.#deps.report(this.taskId, this.#last);
  }

  #reportExit(exitCode: number, reason: string | undefined): void {
    if (exitCode === 0 && reason === undefined) this.#report('complete', 'finished', { exitCode });
    else this.#report('failed', 'task failed', { exitCode, err: reason ?? `exit code ${exitCode}` });
  }

  /** Reports a state, unless that would move the task backwards or past its end. */
  #report(state: TaskState, message: string, extra: Partial<TaskStatus> = {}): void {
    if (!movesForward(this.#state, state)) return;
    this.#state = state;
    const networks = this.#networks === undefined ? {} : { networks: this.#networks.map((n) => ({ ...n })) };
    const status: TaskStatus = { ...networks, ...extra, state, message, timestamp: new Date(this.#deps.clock.now()).toISOString() };
    this.#last = status;
    this.#deps.report(this.taskId, status);
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}

/** What a driver needs of a task. */
export function driverTask(task: Task): DriverTask {
  return {
    id: task.id,
    serviceId: task.serviceId,
    serviceName: task.serviceName,
    nodeId: task.nodeId ?? '',
    ...(task.slot === undefined ? {} : { slot: task.slot }),
    spec: task.spec,
    ports: task.ports,
  };
}

function ids(r: { containerId?: string; pid?: number }): Partial<TaskStatus> {
  return {
    ...(r.containerId === undefined ? {} : { containerId: r.containerId }),
    ...(r.pid === undefined ? {} : { pid: r.pid }),
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
