import type { AssignmentsMessage } from '../api/agent-protocol.ts';
import type { Task } from '../api/task.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Driver, Inspection } from './drivers/driver.ts';
import { runPoststop, type TaskHook } from './executor/hooks.ts';
import type { ExecutorMetrics } from './executor/metrics.ts';
import { TaskRunner, type StatusSink } from './executor/task-runner.ts';
import { fileIdsOf, type TaskFiles } from './files/task-files.ts';

/** The node's drivers by name (`docker`, `exec`, `fake`); only available ones. */
export type DriverSet = ReadonlyMap<string, Driver>;

interface Recovered {
  readonly driver: Driver;
  readonly inspection: Inspection;
}

export interface WorkerDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly drivers: DriverSet;
  readonly report: StatusSink;
  /**
   * Secret and config contents sent with assignments (held in memory while a task uses them);
   * absent: none are kept. Mounting them per task is a hook's job (`files/hook.ts`).
   */
  readonly files?: TaskFiles;
  /** The node's task hooks, in order (see `executor/hooks.ts`); absent: none. */
  readonly hooks?: readonly TaskHook[];
  /** The task runners' metrics recorder (the agent's `/metrics`); absent: nothing is recorded. */
  readonly metrics?: ExecutorMetrics;
}

/**
 * Turns the node's assignment set into one `TaskRunner` per task. At start it asks every
 * driver what it already has (`recover`) and hands those processes to the runners of tasks
 * still assigned, so they are adopted, not restarted; once the first full set arrives it stops
 * and removes the ones no longer assigned. It never removes anything while disconnected: only
 * the manager's full set says what is not assigned.
 */
export class Worker {
  readonly #deps: WorkerDeps;
  readonly #runners = new Map<string, TaskRunner>();
  /** Secret and config ids each assigned task uses, so contents no task needs are dropped. */
  readonly #fileRefs = new Map<string, readonly string[]>();
  /** Processes found at start and not yet claimed; settled by the first full assignment set. */
  #recovered = new Map<string, Recovered>();
  #sawFullSet = false;
  readonly #cleanups = new Set<Promise<void>>();
  #halted = false;

  constructor(deps: WorkerDeps) {
    this.#deps = deps;
  }

  /** Runners by task id (read-only view, for tests and logs). */
  get runners(): ReadonlyMap<string, TaskRunner> {
    return this.#runners;
  }

  /** Asks each driver for the processes it has from before. A failing driver is logged and skipped. */
  async recover(): Promise<void> {
    for (const [name, driver] of this.#deps.drivers) {
      try {
        for (const inspection of await driver.recover()) this.#recovered.set(inspection.taskId, { driver, inspection });
      } catch (err) {
        this.#deps.logger.warn({ err, driver: name }, 'driver recovery failed');
      }
    }
    if (this.#recovered.size > 0) this.#deps.logger.info({ tasks: this.#recovered.size }, 'found tasks from before the restart');
  }

  /** Applies one assignments message from the manager. */
  apply(message: AssignmentsMessage): void {
    if (this.#halted) return;
    this.#deps.files?.receive(message.files);
    try {
      this.#apply(message);
    } finally {
      this.#deps.files?.retain(new Set([...this.#fileRefs.values()].flat()));
    }
  }

  #apply(message: AssignmentsMessage): void {
    if (message.full) {
      const assigned = new Set(message.tasks.map((t) => t.id));
      for (const [id, runner] of this.#runners) if (!assigned.has(id)) this.#destroy(id, runner);
      for (const t of message.tasks) this.#upsert(t);
      if (!this.#sawFullSet) {
        this.#sawFullSet = true;
        for (const [id, r] of this.#recovered) this.#removeStray(id, r);
        this.#recovered.clear();
      }
      return;
    }
    if (!this.#sawFullSet) return; // the manager always sends the full set first
    for (const t of message.tasks) this.#upsert(t);
    for (const id of message.removed) {
      const runner = this.#runners.get(id);
      if (runner) this.#destroy(id, runner);
    }
  }

  /** The driver holding a task's process, for log requests. */
  driverFor(taskId: string): Driver | undefined {
    return this.#runners.get(taskId)?.driver ?? this.#recovered.get(taskId)?.driver;
  }

  /** Stops every runner without touching its process (the agent is stopping). */
  async halt(): Promise<void> {
    this.#halted = true;
    await Promise.all([...this.#runners.values()].map((r) => r.halt()));
    await Promise.all(this.#cleanups);
  }

  /** Waits for in-flight stop-and-remove work of unassigned tasks (for tests). */
  async settled(): Promise<void> {
    while (this.#cleanups.size > 0) await Promise.all(this.#cleanups);
  }

  #upsert(task: Task): void {
    this.#fileRefs.set(task.id, task.desiredState === 'running' ? fileIdsOf(task) : []);
    const runner = this.#runners.get(task.id);
    if (runner) {
      runner.update(task);
      return;
    }
    const recovered = this.#recovered.get(task.id);
    this.#recovered.delete(task.id);
    const driver = recovered?.driver ?? this.#deps.drivers.get(task.spec.driver);
    const hooks = this.#deps.hooks;
    const metrics = this.#deps.metrics;
    const deps = { driver, clock: this.#deps.clock, logger: this.#deps.logger, report: this.#deps.report, ...(hooks ? { hooks } : {}), ...(metrics ? { metrics } : {}) };
    this.#runners.set(task.id, new TaskRunner(deps, task, recovered?.inspection));
  }

  #destroy(id: string, runner: TaskRunner): void {
    this.#runners.delete(id);
    this.#fileRefs.delete(id);
    this.#track(runner.destroy());
  }

  #removeStray(taskId: string, r: Recovered): void {
    this.#deps.logger.info({ task: taskId }, 'removing a task no longer assigned to this node');
    const stop = async (): Promise<void> => {
      try {
        if (r.inspection.state === 'running') await r.driver.stop(taskId, { signal: 'SIGTERM', gracePeriodMs: 10_000 });
        await r.driver.remove(taskId);
        await runPoststop(this.#deps.hooks ?? [], taskId);
      } catch (err) {
        this.#deps.logger.warn({ err, task: taskId }, 'cannot remove a stray task');
      }
    };
    this.#track(stop());
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => this.#deps.logger.warn({ err }, 'task cleanup failed')).finally(() => this.#cleanups.delete(tracked));
    this.#cleanups.add(tracked);
  }
}
