import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { TASK_STATES } from '../../api/task-state.ts';
import { exposition, LATENCY_BUCKETS, newRegistry, type Exposition } from '../../lib/metrics.ts';
import type { Store } from '../../store/store.ts';

/** What the manager's gauges are read from at scrape time (the composition root wires them). */
export interface ManagerMetricsSources {
  /** The store, once open (tasks and nodes are counted from its memory at each scrape). */
  readonly store: () => Store | undefined;
  /** Agent sessions open on this manager, and the longest silence among them (ms). */
  readonly sessions: () => { readonly sessions: number; readonly maxSilenceMs: number };
  /** The work queue depth of each running leader loop (none while following). */
  readonly queueDepths: () => readonly { readonly loop: string; readonly depth: number }[];
  /** Whether this manager leads (runs the control loops) now. */
  readonly leading: () => boolean;
}

/** The task state label of tasks, the node state and availability labels of nodes. */
const NODE_STATES = ['ready', 'down', 'unknown'] as const;
const AVAILABILITIES = ['active', 'pause', 'drain'] as const;
const UNSCHEDULABLE_CAUSES = ['dependency', 'invalid_spec', 'node_not_found', 'node_unsuitable', 'no_suitable_node'] as const;
const LEADER_LOOPS = ['orchestrator', 'allocator', 'scheduler'] as const;

/**
 * The manager's Prometheus metrics: one registry per manager (see `lib/metrics.ts`), the
 * families listed in README.md, and the small recorder each component takes in its `deps`
 * (`api`, `store`, `scheduler`, `dispatcher`; all structurally typed, so no component imports
 * this file). Gauges of cluster state are computed from the store when scraped.
 */
export class ManagerMetrics {
  readonly registry: Registry;
  readonly #requests: Histogram<'method' | 'route' | 'status'>;
  readonly #commits: Histogram<'outcome'>;
  readonly #commitWrites: Histogram;
  readonly #placements: Counter;
  readonly #unschedulable: Gauge<'reason'>;
  readonly #heartbeats: Histogram;

  constructor(sources: ManagerMetricsSources) {
    this.registry = newRegistry();
    const registers = [this.registry];
    this.#requests = new Histogram({
      name: 'flotilla_api_request_duration_seconds',
      help: 'Control API requests by method, route pattern and status code, until the response is sent (event and log streams excluded).',
      labelNames: ['method', 'route', 'status'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.#commits = new Histogram({
      name: 'flotilla_store_commit_duration_seconds',
      help: 'Store transactions from the backend commit until applied to memory, by outcome (committed, conflict, error).',
      labelNames: ['outcome'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.#commitWrites = new Histogram({
      name: 'flotilla_store_commit_objects',
      help: 'Objects put or deleted per committed store transaction (a batch is committed in chunks).',
      buckets: [1, 2, 5, 10, 50, 100, 250, 500, 1000, 2500],
      registers,
    });
    this.#placements = new Counter({
      name: 'flotilla_scheduler_placements_total',
      help: 'Tasks the scheduler assigned to a node (leader only).',
      registers,
    });
    this.#unschedulable = new Gauge({
      name: 'flotilla_scheduler_unschedulable_tasks',
      help: 'Pending tasks no node could take at the last scheduling pass, by reason (dependency, invalid_spec, node_not_found, node_unsuitable, no_suitable_node).',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of UNSCHEDULABLE_CAUSES) this.#unschedulable.set({ reason }, 0);
    this.#heartbeats = new Histogram({
      name: 'flotilla_dispatcher_heartbeat_interval_seconds',
      help: "Time between consecutive heartbeats of an agent session (the first: since the session opened); other messages are not counted. Near the heartbeat period when healthy, far above it is lag.",
      buckets: [0.25, 0.5, 1, 1.5, 2, 3, 5, 10],
      registers,
    });
    new Gauge({
      name: 'flotilla_dispatcher_heartbeat_lag_seconds',
      help: 'The longest time any open agent session on this manager has sent no message of any type, at scrape time.',
      registers,
      collect() {
        this.set(sources.sessions().maxSilenceMs / 1000);
      },
    });
    new Gauge({
      name: 'flotilla_agent_sessions',
      help: 'Agent sessions open on this manager (past their handshake).',
      registers,
      collect() {
        this.set(sources.sessions().sessions);
      },
    });
    new Gauge({
      name: 'flotilla_control_loop_queue_depth',
      help: 'Items waiting in each leader loop (orchestrator: services; allocator and scheduler: tasks); 0 while not leading.',
      labelNames: ['loop'],
      registers,
      collect() {
        for (const loop of LEADER_LOOPS) this.set({ loop }, 0);
        for (const q of sources.queueDepths()) this.set({ loop: q.loop }, q.depth);
      },
    });
    new Gauge({
      name: 'flotilla_manager_leader',
      help: '1 while this manager leads (runs the control loops), else 0.',
      registers,
      collect() {
        this.set(sources.leading() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'flotilla_tasks',
      help: 'Tasks in the store by observed state and desired state, at scrape time.',
      labelNames: ['state', 'desired_state'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, { state: string; desired_state: string; n: number }>();
        for (const state of TASK_STATES) counts.set(`${state}\0running`, { state, desired_state: 'running', n: 0 });
        for (const t of sources.store()?.tasks.all() ?? []) {
          const key = `${t.status.state}\0${t.desiredState}`;
          const c = counts.get(key);
          if (c) c.n++;
          else counts.set(key, { state: t.status.state, desired_state: t.desiredState, n: 1 });
        }
        for (const c of counts.values()) this.set({ state: c.state, desired_state: c.desired_state }, c.n);
      },
    });
    new Gauge({
      name: 'flotilla_nodes',
      help: 'Nodes in the store by state (ready, down, unknown) and availability (active, pause, drain), at scrape time.',
      labelNames: ['state', 'availability'],
      registers,
      collect() {
        const counts = new Map<string, number>();
        for (const n of sources.store()?.nodes.all() ?? []) {
          const key = `${n.status.state}\0${n.spec.availability}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        for (const state of NODE_STATES) {
          for (const availability of AVAILABILITIES) this.set({ state, availability }, counts.get(`${state}\0${availability}`) ?? 0);
        }
      },
    });
  }

  /** The control API's recorder: one answered request, and the exposition `GET /metrics` serves. */
  readonly api = {
    request: (method: string, route: string, status: number, seconds: number): void => {
      this.#requests.observe({ method, route, status: String(status) }, seconds);
    },
    exposition: (): Promise<Exposition> => exposition(this.registry),
  };

  /** The store's recorder: each commit timed, with the objects it wrote. */
  readonly store = {
    commitStarted: (): ((writes: number, outcome: 'committed' | 'conflict' | 'error') => void) => {
      const end = this.#commits.startTimer();
      return (writes, outcome) => {
        end({ outcome });
        if (outcome === 'committed') this.#commitWrites.observe(writes);
      };
    },
  };

  /** The scheduler's recorder: placements counted, waiting tasks by reason as of the last pass. */
  readonly scheduler = {
    pass: (placed: number, waiting: ReadonlyMap<string, number>): void => {
      if (placed > 0) this.#placements.inc(placed);
      for (const reason of UNSCHEDULABLE_CAUSES) this.#unschedulable.set({ reason }, waiting.get(reason) ?? 0);
    },
  };

  /** The dispatcher's recorder: the time between each heartbeat and the session's previous one. */
  readonly dispatcher = {
    heartbeat: (gapMs: number): void => {
      this.#heartbeats.observe(gapMs / 1000);
    },
  };
}
