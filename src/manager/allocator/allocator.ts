import type { Service } from '../../api/service.ts';
import type { Clock } from '../../lib/clock.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';
import { Lifecycle, type LifecycleState } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import type { BackoffOptions } from '../../lib/backoff.ts';
import { WorkQueue, type ReconcileResult } from '../../lib/work-queue.ts';
import type { Store, StoreEvent } from '../../store/store.ts';
import { allocate, needsAllocation } from './allocate.ts';
import { TASK_ALLOCATORS } from './allocators.ts';
import { needsEndpoint, planEndpoint, VipBook } from './endpoints.ts';
import { planSlices } from './ipam.ts';
import { lacksSlice, wantedSlices } from './slices.ts';
import type { TaskAllocator } from './task-allocator.ts';

export interface AllocatorDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface AllocatorOptions {
  /** Retries after a failed batch. Default 100 ms doubling to 10 s. */
  retry?: BackoffOptions;
  /** How long a task an allocator refused waits before the ballot runs again. Default 1 s. */
  retryRefusedMs?: number;
  /** The ballot, in order. Default `TASK_ALLOCATORS`; tests pass their own. */
  allocators?: readonly TaskAllocator[];
}

/** Errors of the allocator boundary; logged by the work queue, which retries. */
export class AllocatorError extends CodedError<'allocate_failed'> {
  override readonly name = 'AllocatorError';
  /** The tasks (or services, or networks) whose writes failed. */
  readonly taskIds: readonly string[];

  constructor(message: string, taskIds: readonly string[], options?: { cause?: unknown }) {
    super('allocate_failed', message, options);
    this.taskIds = taskIds;
  }
}

export const isAllocatorError = errorGuard(AllocatorError);

/** Work-queue key of new tasks and service endpoints: allocated together, in one store batch. */
const ALL = 'new-tasks';
/** Work-queue key of every network's slices: recomputed from the snapshot, in one store batch. */
const NETWORKS = 'networks';
type Key = typeof ALL | typeof NETWORKS;

/**
 * Moves tasks from `new` to `pending` once every allocator of the ballot (`allocators.ts`)
 * signed off. Watches tasks; every new task wanted running is a candidate; a reconcile
 * re-reads each candidate inside its transaction and runs the ballot on it. A task an
 * allocator refused stays `new` with the reason as its message and is tried again later.
 *
 * Also owns the networking resources around tasks: services' VIPs (`endpointStatus`, written
 * in the same batch just before the ballot, so a task of a new service is allocated in the
 * same pass) and networks' per-node slices (`network.slices`: a second key recomputes every
 * network's wanted slices from the snapshot when a task lands on a node lacking one, a node
 * joins or leaves, or a network is created).
 */
export class Allocator {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #queue: WorkQueue<Key>;
  readonly #retryRefusedMs: number;
  readonly #allocators: readonly TaskAllocator[];
  /** Tasks that may need allocation (re-checked against the store when handled). */
  #candidates = new Set<string>();
  /** Services whose endpoint may need allocation (re-checked when handled). */
  #services = new Set<string>();
  /** The last slice exhaustion logged, so it is logged once. */
  #sliceWarning = '';
  readonly #lifecycle = new Lifecycle('allocator');
  #unsubscribe: (() => void) | undefined;

  constructor(deps: AllocatorDeps, options: AllocatorOptions = {}) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ component: 'allocator' });
    this.#retryRefusedMs = options.retryRefusedMs ?? 1_000;
    this.#allocators = options.allocators ?? TASK_ALLOCATORS;
    this.#queue = new WorkQueue<Key>(
      { clock: this.#clock, reconcile: (key) => this.reconcile(key) },
      {
        retry: { initialMs: 100, maxMs: 10_000, ...options.retry },
        onError: (key, err, failures, retryInMs) =>
          this.#log.warn({ err, failures, retryInMs }, key === ALL ? 'allocating tasks failed; will retry' : 'allocating network slices failed; will retry'),
      },
    );
  }

  /** Tasks waiting to be allocated (the loop's queue depth, for `/metrics`). */
  get queueDepth(): number {
    return this.#candidates.size;
  }

  get state(): LifecycleState {
    return this.#lifecycle.state;
  }

  async start(): Promise<void> {
    this.#lifecycle.start();
    // Snapshot and subscription in one synchronous step: no change falls between them.
    this.#unsubscribe = this.#store.watch((ev) => this.#onEvent(ev), { kinds: ['task', 'service', 'node', 'network'] });
    for (const t of this.#store.tasks.byDesiredState('running')) if (needsAllocation(t)) this.#candidates.add(t.id);
    for (const s of this.#store.services.all()) if (needsEndpoint(s)) this.#services.add(s.id);
    if (this.#candidates.size > 0 || this.#services.size > 0) this.#queue.add(ALL);
    this.#queue.add(NETWORKS);
    return Promise.resolve();
  }

  /** Idempotent; waits for a running batch. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async (from) => {
      if (from === 'new') return;
      this.#unsubscribe?.();
      this.#unsubscribe = undefined;
      await this.#queue.stop();
    });
  }

  /** Resolves when no allocation is queued or running. */
  whenIdle(): Promise<void> {
    return this.#queue.whenIdle();
  }

  /** Called by the work queue: `new-tasks` (default) or `networks`. */
  async reconcile(key: Key = ALL): Promise<ReconcileResult | undefined> {
    if (!this.#lifecycle.running) return undefined;
    return key === NETWORKS ? this.#reconcileSlices() : this.#reconcileTasks();
  }

  /**
   * Allocates every candidate service endpoint, then every candidate task, in one store batch.
   * Endpoints go first so a task of a service allocated in this pass sees its VIPs.
   */
  async #reconcileTasks(): Promise<ReconcileResult | undefined> {
    if (this.#candidates.size === 0 && this.#services.size === 0) return undefined;
    const ids = [...this.#candidates];
    const serviceIds = [...this.#services];
    this.#candidates = new Set();
    this.#services = new Set();
    const now = this.#clock.now();
    const refused: string[] = [];
    /** Services refused in this pass, and why: their tasks say so while they wait. */
    const problems = new Map<string, string>();
    const book = serviceIds.length > 0 ? VipBook.of(this.#store.services.all()) : new VipBook();
    const result = await this.#store.batch((b) => {
      for (const id of serviceIds) {
        b.update((tx) => {
          problems.delete(id);
          const s = tx.services.get(id);
          if (!s || !needsEndpoint(s)) return;
          const planned = planEndpoint(s, tx.table('network'), book);
          if (!planned.ok) {
            problems.set(id, planned.reason);
            return;
          }
          book.record(id, planned.endpoint.virtualIps);
          tx.services.update({ ...s, endpointStatus: planned.endpoint });
        });
      }
      for (const id of ids) {
        b.update((tx) => {
          const t = tx.tasks.get(id);
          if (!t) return;
          const service = tx.services.get(t.serviceId);
          const ctx = service && { service, networks: tx.table('network'), endpointProblem: problems.get(service.id) };
          const next = allocate(t, ctx, now, this.#allocators);
          if (next) tx.tasks.update(next);
          if (service !== undefined && needsAllocation(next ?? t)) refused.push(id);
        });
      }
    });
    // Refused tasks and services are tried again later, whether or not other writes failed.
    for (const id of refused) this.#candidates.add(id);
    for (const id of problems.keys()) this.#services.add(id);
    // A task may wait for an endpoint this pass did not look at: make sure it is looked at.
    for (const id of refused) {
      const s = this.#serviceOf(id);
      if (s !== undefined && needsEndpoint(s)) this.#services.add(s.id);
    }
    if (result.errors.length > 0) {
      const failed: string[] = [];
      for (const e of result.errors) {
        // Endpoint callbacks come first in the batch, then the tasks'.
        const isService = e.index < serviceIds.length;
        const id = isService ? serviceIds[e.index] : ids[e.index - serviceIds.length];
        if (id === undefined) continue;
        (isService ? this.#services : this.#candidates).add(id);
        failed.push(id);
      }
      throw new AllocatorError(`${failed.length} of ${serviceIds.length + ids.length} allocations could not be written`, failed, {
        cause: result.errors[0]?.error,
      });
    }
    if (refused.length === 0 && problems.size === 0) return undefined;
    return { requeueAfterMs: this.#retryRefusedMs };
  }

  /**
   * Gives every node that should hold a slice of a network one and drops the slices of nodes
   * gone from the cluster, one write per network that changes, in one batch. Level-triggered:
   * the wanted slices are recomputed from the snapshot every time.
   */
  async #reconcileSlices(): Promise<ReconcileResult | undefined> {
    const store = this.#store;
    const networks = store.table('network').all();
    if (networks.length === 0) return undefined;
    const nodes = store.nodes.all();
    const live = new Set(nodes.map((n) => n.id));
    const wanted = wantedSlices(networks, nodes, store.tasks.all());
    const refusals: string[] = [];
    const result = await store.batch((b) => {
      for (const { id } of networks) {
        b.update((tx) => {
          const n = tx.table('network').get(id);
          if (!n) return;
          const planned = planSlices(n, wanted.get(id) ?? [], live);
          if (planned.refused) refusals.push(`${planned.refused.reason}: ${planned.refused.nodeIds.length} more wanted`);
          if (planned.changed) tx.table('network').update({ ...n, slices: planned.slices });
        });
      }
    });
    const warning = [...new Set(refusals)].join('; ');
    if (warning !== this.#sliceWarning && warning !== '') this.#log.warn({ reason: warning }, 'network slices exhausted');
    this.#sliceWarning = warning;
    if (result.errors.length > 0) {
      const failed = result.errors.map((e) => networks[e.index]?.id ?? '');
      throw new AllocatorError(`${failed.length} of ${networks.length} networks' slices could not be written`, failed, {
        cause: result.errors[0]?.error,
      });
    }
    return undefined;
  }

  #serviceOf(taskId: string): Service | undefined {
    const t = this.#store.tasks.get(taskId);
    return t && this.#store.services.get(t.serviceId);
  }

  #onEvent(ev: StoreEvent): void {
    switch (ev.kind) {
      case 'task': {
        if (ev.action === 'delete') return;
        if (needsAllocation(ev.object)) {
          this.#candidates.add(ev.object.id);
          this.#queue.add(ALL);
        }
        if (lacksSlice(ev.object, (id) => this.#store.table('network').get(id))) this.#queue.add(NETWORKS);
        return;
      }
      case 'service': {
        if (ev.action === 'delete') {
          this.#services.delete(ev.object.id);
          return;
        }
        if (needsEndpoint(ev.object)) {
          this.#services.add(ev.object.id);
          this.#queue.add(ALL);
        }
        return;
      }
      case 'node': {
        // Joins and removals change which nodes hold slices; heartbeats do not.
        if (ev.action !== 'update') this.#queue.add(NETWORKS);
        return;
      }
      case 'network': {
        if (ev.action === 'delete') return;
        const old = ev.old;
        if (ev.action === 'create' || old === undefined || JSON.stringify(old.spec) !== JSON.stringify(ev.object.spec)) {
          this.#queue.add(NETWORKS);
        }
        // A network some services or tasks wait for may have appeared.
        if (ev.action === 'create' && (this.#candidates.size > 0 || this.#services.size > 0)) this.#queue.add(ALL);
        return;
      }
      default:
        return;
    }
  }
}
