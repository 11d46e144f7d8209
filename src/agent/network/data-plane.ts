import type { NetworkMap } from '../../api/network.ts';
import type { Clock } from '../../lib/clock.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import { WorkQueue } from '../../lib/work-queue.ts';
import { Applier } from './apply.ts';
import { localNetwork, type BridgeProvider, type LocalNetwork, type Underlay } from './local-network.ts';
import { bridgeName } from './names.ts';
import { planHost, type HostPlan } from './plan.ts';
import type { CommandRunner } from './runner.ts';
import { CodedError } from '../../lib/coded-error.ts';

export interface DataPlaneDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly nodeId: string;
  /** Absent: the node's underlay is unknown, so no overlay (local bridges only). */
  readonly underlay: Underlay | undefined;
  readonly bridges: BridgeProvider;
  readonly runner: CommandRunner;
  /** Told the map (local fast path applied) and the local networks after each reconcile. */
  readonly dns?: { update(map: NetworkMap, local: readonly LocalNetwork[]): Promise<void> };
}

export interface DataPlaneOptions {
  /** Wait after a change before reconciling, so a burst makes one apply. Default 20 ms. */
  readonly debounceMs?: number;
  /** Re-apply everything this often even when nothing changed (level-triggered). Default 30 s. */
  readonly resyncMs?: number;
}

/** Thrown to `waitForNetwork` callers that can never get the network here. */
export class NetworkUnavailableError extends CodedError<'network_unavailable'> {
  override readonly name = 'NetworkUnavailableError';
  constructor(message: string) {
    super('network_unavailable', message);
  }
}

interface Waiter {
  readonly networkId: string;
  readonly resolve: (n: LocalNetwork) => void;
  readonly reject: (err: unknown) => void;
}

const KEY = 'host';

/**
 * The agent's kernel data plane: holds the newest network map and makes the host match it
 * (bridges through the `BridgeProvider`, then VXLAN devices, neighbours, routes, sysctls,
 * iptables through `Applier`). One loop: a change marks the host dirty (reconciled after
 * `debounceMs`), and every `resyncMs` it re-applies anyway. Nothing is applied before the first
 * map: an agent restart must not sweep the state its running tasks use; the first map then
 * re-applies the same plan idempotently. `stop()` leaves the kernel state in place.
 */
export class DataPlane {
  readonly #deps: DataPlaneDeps;
  readonly #debounceMs: number;
  readonly #resyncMs: number;
  readonly #lifecycle = new Lifecycle('data plane');
  readonly #queue: WorkQueue<string>;
  readonly #applier: Applier;
  #map: NetworkMap | undefined;
  /** Tasks the local fast path took out, until a map without them as endpoints arrives. */
  readonly #gone = new Set<string>();
  /** Local or remote tasks the rules and DNS applied last send flows to (the fast path's check). */
  #served = new Set<string>();
  /** Whether a reconcile runs now (it may have read the map and `#gone` already). */
  #reconciling = false;
  /** `endpointGone` callers waiting for the next reconcile to finish. */
  #applied: Array<() => void> = [];
  /** Networks whose bridge `ensure` succeeded in the newest reconcile. */
  readonly #ready = new Map<string, LocalNetwork>();
  #local: LocalNetwork[] = [];
  #waiters: Waiter[] = [];
  /** When everything was last listed and applied, and the local networks then (for the fast path). */
  #lastFullAt = Number.NEGATIVE_INFINITY;
  #lastFullKey = '';
  #healthy = false;

  constructor(deps: DataPlaneDeps, options: DataPlaneOptions = {}) {
    this.#deps = deps;
    this.#debounceMs = options.debounceMs ?? 20;
    this.#resyncMs = options.resyncMs ?? 30_000;
    this.#applier = new Applier({ runner: deps.runner, logger: deps.logger });
    this.#queue = new WorkQueue<string>(
      { clock: deps.clock, reconcile: () => this.#reconcile() },
      { onError: (_k, err, failures, retryInMs) => deps.logger.warn({ err, failures, retryInMs }, 'network data plane: apply failed') },
    );
  }

  start(): void {
    this.#lifecycle.start();
    if (this.#map !== undefined) this.#queue.add(KEY);
  }

  /** Stops the loop (waiting for an apply in flight); the kernel keeps what was applied. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async () => {
      await this.#queue.stop();
      this.#flushApplied(this.#applied);
      this.#applied = [];
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) w.reject(new NetworkUnavailableError('the network data plane stopped'));
    });
  }

  /** A new map from the manager; one older than the one held is ignored. */
  setMap(map: NetworkMap): void {
    if (this.#map !== undefined && map.revision < this.#map.revision) return;
    this.#map = map;
    // The fast path's removals hold until the manager's map agrees.
    for (const taskId of [...this.#gone]) {
      if (!map.services.some((s) => s.endpoints.some((e) => e.taskId === taskId))) this.#gone.delete(taskId);
    }
    this.#local = localNetworks(map, this.#deps.nodeId, this.#deps.underlay);
    this.#rejectImpossible();
    this.#kick();
  }

  /**
   * The local fast path: a task of this node died, turned unhealthy or is about to be stopped;
   * take it out of every load balancer and DNS answer now, without waiting for the manager's
   * map (its stale UDP conntrack entries go with the apply). It stays out while the maps still
   * list it (they were computed before the manager heard) and is served again by the first map
   * after one without it. Resolves once the host no longer sends it new flows: at once when the
   * rules last applied lack it and no reconcile is running (one running may have read the map
   * before the task went, and install it), else after the next apply (also a failed one) or
   * when the data plane is not running. Resolves to whether the task was, or may have been, in
   * the rules (a task never served, such as one never healthy, a job's or a stray, was not: no
   * flows to drain).
   */
  endpointGone(taskId: string): Promise<boolean> {
    const listed = this.#map?.services.some((s) => s.endpoints.some((e) => e.taskId === taskId)) ?? false;
    if (listed) this.#gone.add(taskId);
    const served = this.#served.has(taskId) || (this.#reconciling && listed);
    if (!served || !this.#lifecycle.running) return Promise.resolve(served);
    return new Promise<boolean>((resolve) => {
      this.#applied.push(() => resolve(true));
      this.#kick();
    });
  }

  /** The networks this node holds a slice of, per the newest map. */
  localNetworks(): readonly LocalNetwork[] {
    return this.#local;
  }

  /**
   * Resolves once the node holds a slice of the network in the map and its bridge is made (and
   * the rest of the host applied once after): a task can then be attached. Rejects when `signal`
   * aborts, when the data plane stops, and at once for an encrypted network (this data plane
   * cannot encrypt).
   */
  waitForNetwork(networkId: string, signal: AbortSignal): Promise<LocalNetwork> {
    const ready = this.#ready.get(networkId);
    if (ready !== undefined) return Promise.resolve(ready);
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    const impossible = this.#impossible(networkId);
    if (impossible !== undefined) return Promise.reject(impossible);
    if (!this.#lifecycle.running && this.#lifecycle.state !== 'new') return Promise.reject(new NetworkUnavailableError('the network data plane stopped'));
    return new Promise<LocalNetwork>((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(signal.reason as Error);
      };
      const waiter: Waiter = {
        networkId,
        resolve: (n) => {
          signal.removeEventListener('abort', onAbort);
          resolve(n);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** The plan applied last (for tests and diagnostics). */
  get lastPlan(): HostPlan | undefined {
    return this.#applier.previous;
  }

  /** Resolves once no reconcile is queued or running. */
  whenIdle(): Promise<void> {
    return this.#queue.whenIdle();
  }

  #kick(): void {
    if (this.#lifecycle.running) this.#queue.addAfter(KEY, this.#debounceMs);
  }

  #impossible(networkId: string): Error | undefined {
    const n = this.#map?.networks.find((x) => x.id === networkId);
    if (n?.encrypted) return new NetworkUnavailableError(`network ${n.name} is encrypted, and this node cannot encrypt overlay traffic`);
    return undefined;
  }

  #rejectImpossible(): void {
    const keep: Waiter[] = [];
    for (const w of this.#waiters) {
      const err = this.#impossible(w.networkId);
      if (err === undefined) keep.push(w);
      else w.reject(err);
    }
    this.#waiters = keep;
  }

  #flushApplied(callers: ReadonlyArray<() => void>): void {
    for (const resolve of callers) resolve();
  }

  async #reconcile(): Promise<{ requeueAfterMs: number }> {
    // Those who asked before this reconcile read the map and `#gone` are answered after it.
    const callers = this.#applied;
    this.#applied = [];
    this.#reconciling = true;
    try {
      return await this.#reconcileOnce();
    } finally {
      this.#reconciling = false;
      this.#flushApplied(callers);
    }
  }

  async #reconcileOnce(): Promise<{ requeueAfterMs: number }> {
    const map = this.#map;
    if (map === undefined) return { requeueAfterMs: this.#resyncMs };
    const { nodeId, underlay, bridges } = this.#deps;
    const local = localNetworks(map, nodeId, underlay);
    this.#local = local;

    // A membership change only touches the chains: bridges are checked again on the periodic
    // resync, when the networks change, or after a failure.
    const localKey = JSON.stringify(local);
    const full = !this.#healthy || localKey !== this.#lastFullKey || this.#deps.clock.now() - this.#lastFullAt >= this.#resyncMs * 0.9;
    const problems: string[] = [];
    if (full) {
      this.#ready.clear();
      const keep = new Set(local.map((n) => bridgeName(n.id)));
      await bridges.sweepOrphans?.(keep).catch((err: unknown) => problems.push(`orphan bridges: ${err instanceof Error ? err.message : String(err)}`));
      await Promise.all(
        local.map(async (n) => {
          try {
            const dockerName = await bridges.ensure(n);
            // Under its former Docker name while that has users: tasks join it there.
            this.#ready.set(n.id, dockerName === undefined || dockerName === n.dockerNetwork ? n : { ...n, dockerNetwork: dockerName });
          } catch (err) {
            problems.push(`bridge of ${n.name}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }),
      );
      try {
        for (const id of await bridges.list()) {
          if (!keep.has(bridgeName(id))) await bridges.remove(id);
        }
      } catch (err) {
        problems.push(`stale bridges: ${err instanceof Error ? err.message : String(err)}`);
      }
    }

    const gone = new Set(this.#gone);
    const plan = planHost({ map, nodeId, underlay, goneTasks: gone });
    const report = await this.#applier.apply(plan, full ? 'full' : 'rules');
    problems.push(...report.errors);
    const served = withoutGone(map, gone);

    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      const n = this.#ready.get(w.networkId);
      if (n !== undefined) w.resolve(n);
      else this.#waiters.push(w);
    }

    if (this.#deps.dns !== undefined) {
      try {
        await this.#deps.dns.update(served, local);
      } catch (err) {
        problems.push(`dns: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    // After a failed apply the kernel may still hold older rules: keep counting their tasks.
    const now = served.services.flatMap((s) => s.endpoints.map((e) => e.taskId));
    this.#served = problems.length > 0 ? new Set([...this.#served, ...now]) : new Set(now);
    this.#healthy = problems.length === 0;
    if (full && this.#healthy) {
      this.#lastFullAt = this.#deps.clock.now();
      this.#lastFullKey = localKey;
    }
    if (problems.length > 0) {
      throw new Error(`network data plane: ${problems.join('; ')}`);
    }
    return { requeueAfterMs: this.#resyncMs };
  }
}

/** The networks of `map` this node holds a slice of and can carry (not encrypted ones). */
function localNetworks(map: NetworkMap, nodeId: string, underlay: Underlay | undefined): LocalNetwork[] {
  const out: LocalNetwork[] = [];
  for (const n of map.networks) {
    const l = localNetwork(n, nodeId, underlay?.mtu);
    if (l !== undefined && !l.encrypted) out.push(l);
  }
  return out;
}

/** The map with the fast path's removed tasks taken out of every service's endpoints. */
function withoutGone(map: NetworkMap, gone: ReadonlySet<string>): NetworkMap {
  if (gone.size === 0) return map;
  return { ...map, services: map.services.map((s) => ({ ...s, endpoints: s.endpoints.filter((e) => !gone.has(e.taskId)) })) };
}
