import type { Node } from '../../api/node.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../store/store.ts';
import { compileDispatcherOptions, type CompiledDispatcherOptions, type DispatcherOptions } from './options.ts';

/**
 * When each node was last heard from, at a finer grain than the store's `heartbeatAt` (which
 * is written every 10 s): the dispatcher's `Sessions` on this manager. The composition root
 * passes it in.
 */
export interface Heartbeats {
  /** Clock ms of the node's last message; undefined when it was never heard from. */
  lastSeen(nodeId: string): number | undefined;
}

export interface LivenessDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly heartbeats: Heartbeats;
}

/**
 * Node liveness, run by the leader only: marks a node `down` once it has been silent for
 * `heartbeatPeriodMs × graceMultiplier`, checked every quarter period. A node is heard from
 * when `heartbeats` saw a message, when its `status.heartbeatAt` says so (set on registration
 * and every 10 s) and, for nodes that were up when liveness started, at the start: each gets
 * `startGraceMs` (15 s) to (re)connect, as after a manager restart or a change of leader. A node
 * is followed once it is up (at start, or when it turns `ready`); one that joined but never
 * connected is not marked down. The sessions close a `down` node's session; its next `hello`
 * makes it `ready` again. See README.md.
 */
export class Liveness {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #heartbeats: Heartbeats;
  readonly #o: CompiledDispatcherOptions;
  readonly #lifecycle = new Lifecycle('liveness');
  /** Followed nodes and the earliest time they count as heard from (liveness start, or turning ready). */
  readonly #followed = new Map<string, number>();
  /** Nodes whose `down` write is in flight. */
  readonly #marking = new Set<string>();
  #unsubscribe: (() => void) | undefined;
  #timer: TimerHandle | undefined;
  #writes: Promise<void> = Promise.resolve();

  constructor(deps: LivenessDeps, options?: DispatcherOptions) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger.child({ component: 'liveness' });
    this.#heartbeats = deps.heartbeats;
    this.#o = compileDispatcherOptions(options);
  }

  async start(): Promise<void> {
    this.#lifecycle.start();
    const now = this.#clock.now();
    // Nodes up at the start count as heard from until `startGraceMs` (at least one grace
    // period) from now: their agents may still be finding this manager after a failover.
    const heardAtStart = now + Math.max(0, this.#o.startGraceMs - this.#o.heartbeatPeriodMs * this.#o.graceMultiplier);
    // Snapshot and subscribe in one synchronous step.
    for (const n of this.#store.nodes.all()) {
      if (n.status.state !== 'down') this.#followed.set(n.id, heardAtStart);
    }
    this.#unsubscribe = this.#store.watch(
      (ev) => {
        if (ev.kind !== 'node') return;
        if (ev.action === 'delete') this.#followed.delete(ev.object.id);
        else if (ev.object.status.state === 'ready' && ev.old?.status.state !== 'ready') this.#followed.set(ev.object.id, this.#clock.now());
      },
      { kinds: ['node'] },
    );
    this.#scheduleSweep();
  }

  /** Stops sweeping and waits for a `down` write in flight. Idempotent. */
  stop(): Promise<void> {
    return this.#lifecycle.stop(async (from) => {
      if (from !== 'running') return;
      this.#unsubscribe?.();
      this.#timer?.cancel();
      await this.#writes;
    });
  }

  #scheduleSweep(): void {
    this.#timer = this.#clock.setTimer(this.#o.sweepIntervalMs, () => {
      if (!this.#lifecycle.running) return;
      this.#sweep();
      this.#scheduleSweep();
    });
  }

  #sweep(): void {
    const now = this.#clock.now();
    const down: string[] = [];
    for (const id of this.#followed.keys()) {
      const n = this.#store.nodes.get(id);
      if (n && n.status.state !== 'down' && !this.#marking.has(id) && this.#overdue(n, now)) down.push(id);
    }
    if (down.length === 0) return;
    this.#logger.warn({ nodes: down }, 'nodes marked down: heartbeats stopped');
    for (const id of down) this.#marking.add(id);
    const write = this.#store
      .batch((b) => {
        for (const id of down) {
          b.update((tx) => {
            const n = tx.nodes.get(id);
            // Re-checked on the state this write commits over: a node that came back (a
            // registration writes a fresh `heartbeatAt`) is never marked down late, and a
            // registration committing first makes this write conflict.
            if (!n || n.status.state === 'down' || !this.#overdue(n, this.#clock.now())) return;
            tx.nodes.update({ ...n, status: { ...n.status, state: 'down', message: 'heartbeat failure' } });
          });
        }
      })
      .then(
        (result) => {
          for (const e of result.errors) this.#logger.warn({ err: e.error }, 'node status write failed');
        },
        // Level-triggered: the store still says the node is up, so the next sweep tries again.
        (err: unknown) => this.#logger.error({ err }, 'node status batch failed'),
      )
      .finally(() => {
        for (const id of down) this.#marking.delete(id);
      });
    this.#writes = this.#writes.then(() => write);
  }

  #overdue(n: Node, now: number): boolean {
    const heard = Math.max(this.#followed.get(n.id) ?? 0, this.#heartbeats.lastSeen(n.id) ?? 0, Date.parse(n.status.heartbeatAt ?? '') || 0);
    return now - heard > this.#o.heartbeatPeriodMs * this.#o.graceMultiplier;
  }
}
