import type { Node } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { isoTime, type Clock, type TimerHandle } from '../../lib/clock.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../store/store.ts';
import { holdsNode, isSchedulable } from './node-info.ts';
import { plan, type PlanResult, type UnschedulableCause } from './plan.ts';

/** What the scheduler needs from the manager. */
export interface SchedulerDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Told the outcome of every pass (the manager's `/metrics`). Default: nothing. */
  readonly metrics?: SchedulerMetrics;
}

/** What the scheduler tells a metrics recorder. */
export interface SchedulerMetrics {
  /**
   * After each pass: the tasks moved to `assigned`, and the tasks left waiting by cause (as of
   * this pass; a cause with none is absent).
   */
  pass(placed: number, waiting: ReadonlyMap<UnschedulableCause, number>): void;
}

/** Tuning knobs; every one is optional. */
export interface SchedulerOptions {
  /** Quiet time after the last relevant change before planning, in ms. Default 20. */
  debounceMs?: number;
  /** Longest a steady stream of changes may hold planning back, in ms. Default 200. */
  maxDelayMs?: number;
  /** Wait before planning again after a commit failed, in ms. Default 500. */
  retryDelayMs?: number;
}

interface CompiledOptions {
  readonly debounceMs: number;
  readonly maxDelayMs: number;
  readonly retryDelayMs: number;
}

/** Turns public options into the fully-required internal form, checking them once. */
export function compileSchedulerOptions(options: SchedulerOptions = {}): CompiledOptions {
  const debounceMs = options.debounceMs ?? 20;
  const maxDelayMs = options.maxDelayMs ?? 200;
  const retryDelayMs = options.retryDelayMs ?? 500;
  for (const [name, v] of Object.entries({ debounceMs, maxDelayMs, retryDelayMs })) {
    if (!Number.isFinite(v) || v < 0) throw new SchedulerError('invalid_option', `${name} must be a number ≥ 0, got ${v}`);
  }
  return { debounceMs, maxDelayMs: Math.max(maxDelayMs, debounceMs), retryDelayMs };
}

export type SchedulerErrorCode = 'invalid_option' | 'already_started';

/** Misuse of the scheduler component (bad options, started twice). */
export class SchedulerError extends CodedError<SchedulerErrorCode> {
  override readonly name = 'SchedulerError';
}

export const isSchedulerError = errorGuard(SchedulerError);

/** Counters, for logs and benchmarks. */
export interface SchedulerStats {
  /** Planning passes run. */
  passes: number;
  /** Tasks moved to `assigned`. */
  assigned: number;
  /** Unschedulable reasons written. */
  reasonsWritten: number;
}

/**
 * The scheduler shell: moves `pending` tasks (desired running) to `assigned` on a node chosen
 * by the pure `plan()`, or leaves them pending with the reason no node fits.
 *
 * Level-triggered: watch events only add task ids to the pending set and arm a debounce
 * timer; a pass re-reads every pending task and the nodes from the store, plans, and commits
 * all decisions in one `store.batch`, where each update re-reads its task and skips it if it
 * is no longer pending. Node changes and tasks releasing a node re-plan the waiting tasks.
 */
export class Scheduler {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #opts: CompiledOptions;
  readonly #lifecycle = new Lifecycle('scheduler', {
    startError: (state) => new SchedulerError('already_started', `scheduler cannot start: it is ${state}`),
  });
  #unsubscribe: (() => void) | undefined;
  /** Ids of tasks that were schedulable when last seen; a pass re-checks each. */
  readonly #pending = new Set<string>();
  #timer: TimerHandle | undefined;
  /** First and last change not yet covered by a pass (ms), for the debounce. */
  #firstChange: number | undefined;
  #lastChange = 0;
  #busy = false;
  /** A pass failed in part: run another after the retry delay. */
  #retry = false;
  #loop: Promise<void> = Promise.resolve();
  /**
   * Names of the services pending tasks depend on (`dependsOn`), as of the last pass: a change
   * to one of their tasks may open the gate, so it calls for a pass.
   */
  #waitingOn: ReadonlySet<string> = new Set();
  readonly stats: SchedulerStats = { passes: 0, assigned: 0, reasonsWritten: 0 };
  readonly #metrics: SchedulerMetrics | undefined;

  constructor(deps: SchedulerDeps, options?: SchedulerOptions) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ component: 'scheduler' });
    this.#opts = compileSchedulerOptions(options);
    this.#metrics = deps.metrics;
  }

  /** Tasks waiting for a pass (the control loop's queue depth, for `/metrics`). */
  get queueDepth(): number {
    return this.#pending.size;
  }

  /** Reads the pending tasks and subscribes to changes, in one synchronous step. */
  start(): Promise<void> {
    try {
      this.#lifecycle.start();
    } catch (err) {
      return Promise.reject(err as Error);
    }
    // Snapshot and subscription in the same synchronous step: no change falls between them.
    this.#unsubscribe = this.#store.watch((ev) => this.#onEvent(ev), { kinds: ['node', 'task', 'service', 'network'] });
    for (const t of this.#store.tasks.all()) if (isSchedulable(t)) this.#pending.add(t.id);
    if (this.#pending.size > 0) this.#changed();
    return Promise.resolve();
  }

  /** Stops watching and waits for a pass in progress to finish. Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async (from) => {
      if (from === 'running') {
        this.#unsubscribe?.();
        this.#unsubscribe = undefined;
        this.#timer?.cancel();
        this.#timer = undefined;
      }
      await this.#loop;
    });
  }

  #onEvent(ev: StoreEvent): void {
    if (ev.kind === 'network') {
      // Encryption and free slices decide where tasks on a network may go.
      if (this.#pending.size > 0) this.#changed();
      return;
    }
    if (ev.kind === 'service') {
      // A dependency created, updated or removed, or a gated service's own dependsOn changed.
      if (this.#waitingOn.size > 0 && this.#pending.size > 0) this.#changed();
      return;
    }
    if (ev.kind === 'task') {
      const t = ev.object as Task;
      const old = ev.old as Task | undefined;
      if (this.#pending.size > 0 && this.#waitingOn.has(t.serviceName) && gateInputChanged(t, old, ev.action)) this.#changed();
      if (ev.action !== 'delete' && isSchedulable(t)) {
        // Our own reason updates land here too; only a newly pending task calls for a pass.
        if (!this.#pending.has(t.id)) {
          this.#pending.add(t.id);
          this.#changed();
        }
        return;
      }
      this.#pending.delete(t.id);
      const released = old !== undefined && holdsNode(old) && (ev.action === 'delete' || !holdsNode(t));
      if (released && this.#pending.size > 0) this.#changed();
      return;
    }
    if (ev.kind === 'node' && this.#pending.size > 0) {
      const node = ev.object as Node;
      const old = ev.old as Node | undefined;
      if (ev.action !== 'update' || old === undefined || placementView(old) !== placementView(node)) this.#changed();
    }
  }

  /** Notes a change and makes sure a pass will run once the burst settles. */
  #changed(): void {
    if (!this.#lifecycle.running) return;
    const now = this.#clock.now();
    this.#lastChange = now;
    this.#firstChange ??= now;
    if (!this.#busy && !this.#timer) this.#arm(this.#opts.debounceMs);
  }

  #arm(ms: number): void {
    this.#timer = this.#clock.setTimer(ms, () => this.#onTimer());
  }

  #onTimer(): void {
    this.#timer = undefined;
    if (!this.#lifecycle.running || this.#firstChange === undefined) return;
    const due = Math.min(this.#lastChange + this.#opts.debounceMs, this.#firstChange + this.#opts.maxDelayMs);
    const now = this.#clock.now();
    if (now < due) {
      this.#arm(due - now);
      return;
    }
    this.#firstChange = undefined;
    this.#busy = true;
    this.#loop = this.#pass()
      .catch((err: unknown) => {
        this.#log.error({ err }, 'scheduling pass failed; retrying');
        this.#retry = true;
      })
      .finally(() => {
        this.#busy = false;
        if (!this.#lifecycle.running || this.#timer) return;
        const now = this.#clock.now();
        if (this.#retry) {
          // Back off: plan again after the retry delay, whatever changes in between.
          this.#retry = false;
          this.#firstChange ??= now;
          this.#lastChange = now;
          this.#arm(this.#opts.retryDelayMs);
        } else if (this.#firstChange !== undefined) {
          // Changes that came in during the pass: plan again (at once if they waited long).
          const due = Math.min(this.#lastChange + this.#opts.debounceMs, this.#firstChange + this.#opts.maxDelayMs);
          this.#arm(Math.max(0, due - now));
        }
      });
  }

  /** One pass: read, plan, commit. */
  async #pass(): Promise<void> {
    const store = this.#store;
    const pending: Task[] = [];
    for (const id of this.#pending) {
      const t = store.tasks.get(id);
      if (t && isSchedulable(t)) pending.push(t);
      else this.#pending.delete(id);
    }
    if (pending.length === 0) {
      this.#metrics?.pass(0, new Map());
      return;
    }
    this.stats.passes++;
    const started = this.#clock.now();
    this.#waitingOn = dependenciesOf(store, pending);
    const dependencies = {
      service: (id: string) => store.services.get(id),
      serviceByName: (name: string) => store.services.byName(name),
      tasksOf: (serviceId: string) => store.tasks.byService(serviceId),
    };
    const networks = store.table('network');
    const result = plan(
      { nodes: store.nodes.all(), tasks: store.tasks.all(), dependencies, network: (id) => networks.get(id) },
      pending,
      started,
    );
    const planned = this.#clock.now();
    const { written, reasons, errors } = await this.#commit(result);
    this.stats.assigned += written;
    this.stats.reasonsWritten += reasons;
    if (this.#metrics) {
      const waiting = new Map<UnschedulableCause, number>();
      for (const u of result.unschedulable) waiting.set(u.cause, (waiting.get(u.cause) ?? 0) + 1);
      this.#metrics.pass(written, waiting);
    }
    this.#log.debug(
      {
        pending: pending.length,
        assigned: written,
        unschedulable: result.unschedulable.length,
        planMs: planned - started,
        commitMs: this.#clock.now() - planned,
      },
      'scheduling pass',
    );
    if (errors > 0) this.#retry = true;
  }

  /** Writes the plan in one batch; each update re-reads its task and skips it if it moved on. */
  async #commit(result: PlanResult): Promise<{ written: number; reasons: number; errors: number }> {
    const store = this.#store;
    const timestamp = isoTime(this.#clock);
    let written = 0;
    let reasons = 0;
    const batch = await store.batch((b) => {
      for (const a of result.assignments) {
        b.update((tx) => {
          const t = tx.tasks.get(a.taskId);
          if (!t || !isSchedulable(t) || (t.nodeId !== undefined && t.nodeId !== a.nodeId)) return;
          const node = tx.nodes.get(a.nodeId);
          // The node changed since the plan: leave the task; the node's event re-plans it.
          if (!node || node.status.state !== 'ready' || node.spec.availability !== 'active') return;
          tx.tasks.update({ ...t, nodeId: a.nodeId, status: { state: 'assigned', message: 'scheduled', timestamp } });
          written++;
        });
      }
      for (const u of result.unschedulable) {
        if (store.tasks.get(u.taskId)?.status.message === u.reason) continue;
        b.update((tx) => {
          const t = tx.tasks.get(u.taskId);
          if (!t || !isSchedulable(t) || t.status.message === u.reason) return;
          tx.tasks.update({ ...t, status: { ...t.status, message: u.reason } });
          reasons++;
        });
      }
    });
    for (const e of batch.errors.slice(0, 5)) this.#log.warn({ err: e.error }, 'scheduling decision not committed');
    return { written, reasons, errors: batch.errors.length };
  }
}

/** The dependencies (service names) of the services of `pending` tasks. */
function dependenciesOf(store: Store, pending: readonly Task[]): Set<string> {
  const out = new Set<string>();
  const seen = new Set<string>();
  for (const t of pending) {
    if (seen.has(t.serviceId)) continue;
    seen.add(t.serviceId);
    for (const d of store.services.get(t.serviceId)?.spec.dependsOn ?? []) out.add(d.service);
  }
  return out;
}

/** Whether a task change can change a dependency condition: state, health, desired state, spec version. */
function gateInputChanged(t: Task, old: Task | undefined, action: StoreEvent['action']): boolean {
  if (action !== 'update' || old === undefined) return true;
  return (
    t.status.state !== old.status.state ||
    t.status.health !== old.status.health ||
    t.desiredState !== old.desiredState ||
    t.specVersion !== old.specVersion
  );
}

/** The store's watch event, as far as the scheduler reads it. */
type StoreEvent = Parameters<Parameters<Store['watch']>[0]>[0];

/** The node fields placement depends on, as one comparable string (heartbeats excluded). */
function placementView(n: Node): string {
  return JSON.stringify([n.status.state, n.spec, n.description]);
}
