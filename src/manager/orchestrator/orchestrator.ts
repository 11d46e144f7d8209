import type { Node } from '../../api/node.ts';
import type { Task } from '../../api/task.ts';
import { isBefore, isTerminal } from '../../api/task-state.ts';
import type { Clock } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { Lifecycle, type LifecycleState } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import { WorkQueue, type ReconcileResult } from '../../lib/work-queue.ts';
import type { Store, StoreEvent } from '../../store/store.ts';
import type { Action } from './actions.ts';
import { applyActions } from './apply.ts';
import { OrchestratorError } from './errors.ts';
import { compileOrchestratorOptions, type CompiledOrchestratorOptions, type OrchestratorOptions } from './options.ts';
import { planService } from './plan.ts';

export type { OrchestratorOptions } from './options.ts';

export interface OrchestratorDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Ids of new tasks. Default `newId`. */
  readonly newId?: () => string;
}

/**
 * Keeps every service's tasks matching its spec: replicated slots and global nodes, restarts
 * with backoff, tasks moved off drained and down nodes, spec updates, removal and history.
 *
 * A thin shell around the pure `planService`: store events mark services dirty in a
 * level-triggered work queue; `reconcile(serviceId)` reads the snapshot, plans, and applies
 * the plan in one store batch. A restart delay is a timer that re-queues the service.
 */
export class Orchestrator {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #newId: () => string;
  readonly #opts: CompiledOrchestratorOptions;
  readonly #queue: WorkQueue<string>;
  readonly #lifecycle = new Lifecycle('orchestrator');
  #unsubscribe: (() => void) | undefined;

  constructor(deps: OrchestratorDeps, options: OrchestratorOptions = {}) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ component: 'orchestrator' });
    this.#newId = deps.newId ?? newId;
    this.#opts = compileOrchestratorOptions(options);
    this.#queue = new WorkQueue<string>(
      { clock: this.#clock, reconcile: (id) => this.reconcile(id) },
      {
        concurrency: this.#opts.concurrency,
        retry: this.#opts.retryOptions,
        onError: (serviceId, err, failures, retryInMs) =>
          this.#log.warn({ err, serviceId, failures, retryInMs }, 'reconciling service failed; will retry'),
      },
    );
  }

  /** Services waiting in the work queue (the loop's queue depth, for `/metrics`). */
  get queueDepth(): number {
    return this.#queue.length;
  }

  get state(): LifecycleState {
    return this.#lifecycle.state;
  }

  /** Subscribes to the store and queues every service (and every orphaned task's service). */
  async start(): Promise<void> {
    this.#lifecycle.start();
    // Subscribe and read the snapshot in one synchronous step: nothing is missed.
    this.#unsubscribe = this.#store.watch((ev) => this.#onEvent(ev), { kinds: ['service', 'task', 'node'] });
    const ids = new Set<string>();
    for (const s of this.#store.services.all()) ids.add(s.id);
    for (const t of this.#store.tasks.all()) ids.add(t.serviceId);
    for (const id of ids) this.#queue.add(id);
    this.#log.info({ services: ids.size }, 'orchestrator started');
    return Promise.resolve();
  }

  /** Unsubscribes, cancels restart timers and waits for running reconciles. Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async (from) => {
      if (from === 'new') return;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      await this.#queue.stop();
    });
  }

  /** Resolves when no service is queued or being reconciled (pending restart timers aside). */
  whenIdle(): Promise<void> {
    return this.#queue.whenIdle();
  }

  /** Converges one service now; called by the work queue. */
  async reconcile(serviceId: string): Promise<ReconcileResult | void> {
    if (!this.#lifecycle.running) return;
    const store = this.#store;
    const service = store.services.get(serviceId);
    const tasks = store.tasks.byService(serviceId);
    const now = this.#clock.now();
    const plan = planService({
      serviceId,
      service,
      tasks,
      nodes: this.#nodesFor(service?.spec.mode === 'global' || service?.spec.mode === 'global-job', tasks),
      now,
      options: this.#opts.plan,
      newId: this.#newId,
    });
    if (plan.actions.length > 0) {
      this.#logActions(serviceId, service?.spec.name, plan.actions);
      const result = await applyActions(store, plan.actions);
      if (result.errors.length > 0) {
        const first = result.errors[0]?.error;
        throw new OrchestratorError(
          'apply_failed',
          serviceId,
          `${result.errors.length} of ${plan.actions.length} changes to service ${serviceId} failed: ${first?.message ?? ''}`,
          { cause: first },
        );
      }
    }
    if (plan.wakeAt !== undefined) return { requeueAfterMs: Math.max(1, plan.wakeAt - this.#clock.now()) };
  }

  /** Every node for a global service; for a replicated one only the nodes its tasks are on. */
  #nodesFor(global: boolean, tasks: readonly Task[]): Map<string, Node> {
    const nodes = new Map<string, Node>();
    if (global) {
      for (const n of this.#store.nodes.all()) nodes.set(n.id, n);
      return nodes;
    }
    for (const t of tasks) {
      if (t.nodeId === undefined || nodes.has(t.nodeId)) continue;
      const n = this.#store.nodes.get(t.nodeId);
      if (n) nodes.set(n.id, n);
    }
    return nodes;
  }

  #onEvent(ev: StoreEvent): void {
    switch (ev.kind) {
      case 'service':
        this.#queue.add(ev.object.id);
        return;
      case 'task':
        if (taskChangeMatters(ev.object, ev.old, ev.action) || this.#rolloutProgress(ev.object, ev.old)) {
          this.#queue.add(ev.object.serviceId);
        }
        return;
      case 'node':
        if (ev.action === 'update' && ev.old && !nodeChangeMatters(ev.object, ev.old)) return;
        this.#onNodeChanged(ev.object.id);
        return;
    }
  }

  /**
   * While a service's rollout is under way (or paused), a task coming up or changing health
   * moves it on (the next batch, an old task of a start-first slot stopping, a failure).
   * Outside a rollout such agent progress changes no plan and is ignored.
   */
  #rolloutProgress(t: Task, old: Task | undefined): boolean {
    if (!old || (t.status.health === old.status.health && (t.status.state === 'running') === (old.status.state === 'running'))) {
      return false;
    }
    const state = this.#store.services.get(t.serviceId)?.updateStatus?.state;
    return state !== undefined && state !== 'completed' && state !== 'rollback_completed';
  }

  /** A node's health or placement fields changed: its services and every global service. */
  #onNodeChanged(nodeId: string): void {
    for (const t of this.#store.tasks.byNode(nodeId)) this.#queue.add(t.serviceId);
    for (const s of this.#store.services.all()) if (s.spec.mode === 'global' || s.spec.mode === 'global-job') this.#queue.add(s.id);
  }

  #logActions(serviceId: string, name: string | undefined, actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.kind === 'status' || a.kind === 'rollback') {
        this.#log.info({ serviceId, service: name, action: a.kind, reason: a.reason }, 'rollout change');
        continue;
      }
      const taskId = a.kind === 'replace' ? a.old.id : a.task.id;
      const fields = { serviceId, service: name, action: a.kind, taskId, reason: a.reason };
      if (a.kind === 'replace' || a.kind === 'stop' || a.kind === 'adopt') this.#log.info(fields, 'orchestrator change');
      else this.#log.debug(fields, 'orchestrator change');
    }
  }
}

/**
 * Whether a task change can change a plan: creation and deletion, desired state, node, and
 * the state crossing into `assigned` (it now needs an agent to stop) or into a terminal state.
 * Agent progress (accepted → … → running) and messages do not.
 */
function taskChangeMatters(t: Task, old: Task | undefined, action: StoreEvent['action']): boolean {
  if (action !== 'update' || !old) return true;
  if (t.desiredState !== old.desiredState || t.nodeId !== old.nodeId) return true;
  const s = t.status.state;
  const o = old.status.state;
  return isTerminal(s) !== isTerminal(o) || isBefore(s, 'assigned') !== isBefore(o, 'assigned');
}

function nodeChangeMatters(n: Node, old: Node): boolean {
  return (
    n.status.state !== old.status.state ||
    n.spec.availability !== old.spec.availability ||
    n.spec.role !== old.spec.role ||
    JSON.stringify(n.spec.labels) !== JSON.stringify(old.spec.labels) ||
    n.description.hostname !== old.description.hostname ||
    JSON.stringify(n.description.platform) !== JSON.stringify(old.description.platform) ||
    n.description.drivers.join(',') !== old.description.drivers.join(',')
  );
}
