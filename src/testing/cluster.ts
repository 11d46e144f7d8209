import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NodeDescription } from '../api/node.ts';
import type { Service, ServiceSpec } from '../api/service.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import { silentLogger, type Logger } from '../lib/logger.ts';
import type { DispatcherOptions } from '../manager/dispatcher/options.ts';
import { Sessions } from '../manager/dispatcher/sessions.ts';
import { leaderLoops } from '../manager/leader-loops.ts';
import { AlwaysLeader } from '../manager/leader/leadership.ts';
import { LeaderLoopRunner } from '../manager/leader/loop-runner.ts';
import { SqliteBackend } from '../store/sqlite/sqlite-backend.ts';
import { Store } from '../store/store.ts';
import { makeServiceSpec, type DeepPartial } from './fixtures.ts';
import { SimulatedNode } from './simulated-node.ts';

export interface ClusterOptions {
  /** Simulated nodes to start with. Default 3. */
  nodes?: number;
  /** Default the system clock (the components' timers must fire on their own). */
  clock?: Clock;
  logger?: Logger;
  dispatcher?: DispatcherOptions;
  /** Description overrides of node `i` (0-based). */
  nodeDescription?: (i: number) => Partial<NodeDescription>;
}

interface Component {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An in-process cluster for controller tests and benchmarks: a real `Store` on a real SQLite
 * file (in a temp dir), the manager's leader loops (`leaderLoops`: orchestrator, allocator,
 * scheduler, node liveness; always leader), the dispatcher's sessions and N `SimulatedNode`s
 * running real agents on the fake driver.
 *
 * ```ts
 * const c = await Cluster.start({ nodes: 3 });
 * await c.createService({ name: 'web', replicas: 3 });
 * await c.waitFor((s) => running(s) === 3, 60_000, '3 running');
 * await c.stop();
 * ```
 */
export class Cluster {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly nodes: SimulatedNode[] = [];
  readonly #dir: string;
  readonly #backend: SqliteBackend;
  readonly #options: ClusterOptions;
  #dispatcher: Sessions | undefined;
  #components: Component[] = [];

  private constructor(dir: string, backend: SqliteBackend, store: Store, options: ClusterOptions) {
    this.#dir = dir;
    this.#backend = backend;
    this.store = store;
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
  }

  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-cluster-'));
    const backend = SqliteBackend.open(join(dir, 'state.db'));
    const clock = options.clock ?? systemClock;
    const store = await Store.open(backend, { clock, logger: options.logger ?? silentLogger });
    const c = new Cluster(dir, backend, store, options);
    await c.startManager();
    for (let i = 0; i < (options.nodes ?? 3); i++) await c.addNode();
    return c;
  }

  /** The running dispatcher sessions (undefined while the manager is stopped). */
  get dispatcher(): Sessions | undefined {
    return this.#dispatcher;
  }

  /** Starts the manager's components on the store (after `stopManager`, a manager restart). */
  async startManager(): Promise<void> {
    if (this.#components.length > 0) throw new Error('the manager is already running');
    const deps = { store: this.store, clock: this.clock, logger: this.logger };
    const dispatcher = new Sessions(deps, this.#options.dispatcher);
    const loopDeps = { ...deps, heartbeats: dispatcher, ...(this.#options.dispatcher ? { dispatcher: this.#options.dispatcher } : {}) };
    const components: Component[] = [new LeaderLoopRunner({ leadership: new AlwaysLeader(), logger: this.logger }, leaderLoops, loopDeps), dispatcher];
    for (const c of components) await c.start();
    this.#components = components;
    this.#dispatcher = dispatcher;
  }

  /** Stops the manager's components; agents lose their sessions and keep retrying. */
  async stopManager(): Promise<void> {
    const components = this.#components;
    this.#components = [];
    this.#dispatcher = undefined;
    for (const c of [...components].reverse()) await c.stop();
  }

  /** Adds and starts one more simulated node; resolves once it is registered. */
  async addNode(description: Partial<NodeDescription> = {}): Promise<SimulatedNode> {
    const i = this.nodes.length;
    const name = `node-${i + 1}`;
    const node = new SimulatedNode({
      name,
      clock: this.clock,
      logger: this.logger,
      dataDir: join(this.#dir, name),
      manager: () => this.#dispatcher,
      description: { ...this.#options.nodeDescription?.(i), ...description },
    });
    this.nodes.push(node);
    await node.start();
    return node;
  }

  /** Creates a service the way the control API does; the spec defaults to the fake driver. */
  async createService(overrides: DeepPartial<ServiceSpec> = {}): Promise<Service> {
    const spec = makeServiceSpec({ taskTemplate: { driver: 'fake', container: { image: 'fake' } }, ...overrides });
    return this.store.update((tx) => tx.services.create({ id: newId(), spec, specVersion: 1 }));
  }

  /**
   * Resolves once `predicate` holds for the store, re-checked on every committed change (no
   * polling); rejects after `timeoutMs`, naming `what` and showing the tasks' states.
   */
  waitFor(predicate: (store: Store) => boolean, timeoutMs = 60_000, what = 'a condition'): Promise<void> {
    const store = this.store;
    return new Promise((resolve, reject) => {
      if (predicate(store)) return resolve();
      const timer = setTimeout(() => {
        unsubscribe();
        const tasks = store.tasks
          .all()
          .map((t) => `${t.serviceName}.${t.slot ?? '-'} ${t.status.state}/${t.desiredState} on ${t.nodeId ?? '-'}`);
        const nodes = store.nodes.all().map((n) => `${n.description.hostname} ${n.status.state}`);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nnodes: ${nodes.join(', ')}\ntasks:\n  ${tasks.join('\n  ')}`));
      }, timeoutMs);
      const unsubscribe = store.watch(() => {
        let ok: boolean;
        try {
          ok = predicate(store);
        } catch (err) {
          clearTimeout(timer);
          unsubscribe();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (!ok) return;
        clearTimeout(timer);
        unsubscribe();
        resolve();
      });
    });
  }

  /** Stops the agents, then the manager, closes the store and removes the temp dir. */
  async stop(): Promise<void> {
    for (const n of this.nodes) await n.kill();
    await this.stopManager();
    await this.store.close();
    await this.#backend.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}
