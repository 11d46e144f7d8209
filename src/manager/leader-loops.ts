import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import type { Store } from '../store/store.ts';
import { Allocator } from './allocator/allocator.ts';
import { Liveness, type Heartbeats } from './dispatcher/liveness.ts';
import type { DispatcherOptions } from './dispatcher/options.ts';
import type { LeaderLoop } from './leader/loop-runner.ts';
import { Orchestrator } from './orchestrator/orchestrator.ts';
import { Scheduler, type SchedulerMetrics } from './scheduler/scheduler.ts';

/** What the leader loops are built from, every term. */
export interface LeaderLoopDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** When each node was last heard from: this manager's dispatcher sessions. */
  readonly heartbeats: Heartbeats;
  /** The heartbeat period and grace (the same options the sessions get). */
  readonly dispatcher?: DispatcherOptions;
  /** The loops' metrics recorders (the manager's `/metrics`); absent, nothing is recorded. */
  readonly metrics?: { readonly scheduler?: SchedulerMetrics };
}

/**
 * The control loops only the leader runs, in start order (stopped in reverse). This list is
 * the one place that says which loops are leader-only; `LeaderLoopRunner` builds a fresh
 * instance of each every time this manager becomes leader and stops them when it is not.
 * Everything else a manager runs (the store, the dispatcher's sessions, the API) runs on
 * every manager.
 */
export const leaderLoops: readonly LeaderLoop<LeaderLoopDeps>[] = [
  { name: 'orchestrator', create: (d) => new Orchestrator(d) },
  { name: 'allocator', create: (d) => new Allocator(d) },
  { name: 'scheduler', create: (d) => new Scheduler({ store: d.store, clock: d.clock, logger: d.logger, ...(d.metrics?.scheduler ? { metrics: d.metrics.scheduler } : {}) }) },
  { name: 'node liveness', create: (d) => new Liveness(d, d.dispatcher) },
];
