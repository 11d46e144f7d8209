import { compareAttachedContainers, validAttachedContainers, type AttachedContainer } from '../../api/network.ts';
import type { NodeDescription } from '../../api/node.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { isStoreError } from '../../store/errors.ts';
import type { Store, Tx } from '../../store/store.ts';

/** The shortest time between two writes of one node's plain containers (`containers`). */
export const CONTAINERS_WRITE_INTERVAL_MS = 500;

export interface NodeWritesDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * The sessions' writes of `node` objects — registrations, `heartbeatAt`, the plain containers
 * agents report — run one at a time, in order, each retried a few times when it loses a race
 * with another writer. Part of `Sessions`, which decides what to write and when.
 */
export class NodeWrites {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Nodes registered with role `manager` when first seen. */
  readonly #managerNodeIds: ReadonlySet<string>;
  /** The writes, one at a time, in order. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  /** Per node, the plain containers of its latest report not yet written (one write waits at most). */
  readonly #containersQueued = new Map<string, AttachedContainer[]>();
  /** Per node: when its containers were last written, the timer of the next write, entries left out of its last report. */
  readonly #containersWrittenAt = new Map<string, number>();
  readonly #containersTimers = new Map<string, TimerHandle>();
  readonly #containersDropped = new Map<string, number>();

  constructor(deps: NodeWritesDeps, managerNodeIds: ReadonlySet<string>) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#managerNodeIds = managerNodeIds;
  }

  /** No more container writes start; their timers are cancelled. Writes already queued go on (`settled`). */
  close(): void {
    this.#closed = true;
    for (const t of this.#containersTimers.values()) t.cancel();
    this.#containersTimers.clear();
  }

  /** Resolves when every write queued so far has run. */
  settled(): Promise<void> {
    return this.#queue;
  }

  /**
   * Creates or refreshes the node (`ready`); false when `mustExist` (an authenticated node,
   * which joined through the CA) and it is gone: a removed node is never brought back by its agent.
   */
  register(nodeId: string, description: NodeDescription, addr: string, mustExist: boolean): Promise<boolean> {
    return this.#serial(() => this.#register(nodeId, description, addr, mustExist));
  }

  async #register(nodeId: string, description: NodeDescription, addr: string, mustExist: boolean): Promise<boolean> {
    const heartbeatAt = new Date(this.#clock.now()).toISOString();
    const status = { state: 'ready' as const, addr, message: '', heartbeatAt };
    return this.#update((tx) => {
      const existing = tx.nodes.get(nodeId);
      if (!existing && mustExist) return false;
      if (!existing) {
        const role = this.#managerNodeIds.has(nodeId) ? 'manager' : 'worker';
        tx.nodes.create({ id: nodeId, spec: { role, availability: 'active', labels: {} }, description, status });
      } else {
        // The plain containers it reported stay until its agent reports them again.
        const containers = existing.status.containers;
        tx.nodes.update({ ...existing, description, status: containers ? { ...status, containers } : status });
      }
      return true;
    });
  }

  /** Writes `heartbeatAt` (the time each was last heard from) of `ready` nodes in one batch; failures are logged. */
  heartbeats(beats: ReadonlyArray<readonly [nodeId: string, at: number]>): void {
    this.#serial(async () => {
      const result = await this.#store.batch((b) => {
        for (const [id, at] of beats) {
          b.update((tx) => {
            const n = tx.nodes.get(id);
            if (!n || n.status.state !== 'ready') return;
            tx.nodes.update({ ...n, status: { ...n.status, heartbeatAt: new Date(at).toISOString() } });
          });
        }
      });
      for (const e of result.errors) this.#logger.warn({ err: e.error }, 'node heartbeat write failed');
    }).catch((err: unknown) => {
      this.#logger.error({ err }, 'node heartbeat batch failed');
    });
  }

  /**
   * A node's report of its plain containers: the valid entries are kept (a bad one is left out
   * and logged when the count changes, never a reason to close the session). Writes are
   * coalesced and spaced per node: while one waits, a newer report replaces it, and one follows
   * the node's last by `CONTAINERS_WRITE_INTERVAL_MS`, so a chatty agent cannot hammer the store
   * (nor every agent's map).
   */
  containers(nodeId: string, reported: readonly unknown[]): void {
    const { kept, dropped } = validAttachedContainers(reported);
    if (dropped !== (this.#containersDropped.get(nodeId) ?? 0)) {
      this.#containersDropped.set(nodeId, dropped);
      if (dropped > 0) this.#logger.warn({ node: nodeId, dropped, kept: kept.length }, 'plain containers left out of a node\'s report (not valid, or past the limit)');
    }
    const queued = this.#containersQueued.has(nodeId);
    this.#containersQueued.set(nodeId, kept);
    if (queued) return;
    const write = (): void => {
      this.#containersTimers.delete(nodeId);
      if (this.#closed) return;
      this.#serial(() => {
        const latest = this.#containersQueued.get(nodeId) ?? [];
        this.#containersQueued.delete(nodeId);
        this.#containersWrittenAt.set(nodeId, this.#clock.now());
        return this.#writeContainers(nodeId, latest);
      }).catch((err: unknown) => {
        this.#logger.warn({ err, node: nodeId }, 'cannot record the plain containers the node reported');
      });
    };
    const wait = (this.#containersWrittenAt.get(nodeId) ?? Number.NEGATIVE_INFINITY) + CONTAINERS_WRITE_INTERVAL_MS - this.#clock.now();
    if (wait <= 0) write();
    else this.#containersTimers.set(nodeId, this.#clock.setTimer(wait, write));
  }

  /**
   * Records the plain containers on attachable networks an agent reported (`node.status.containers`,
   * read by the network maps). What they may carry into maps is checked there.
   */
  async #writeContainers(nodeId: string, containers: readonly AttachedContainer[]): Promise<void> {
    const sorted = [...containers].sort(compareAttachedContainers);
    await this.#update((tx) => {
      const n = tx.nodes.get(nodeId);
      if (!n || JSON.stringify(n.status.containers ?? []) === JSON.stringify(sorted)) return;
      const { containers: _old, ...status } = n.status;
      tx.nodes.update({ ...n, status: sorted.length > 0 ? { ...status, containers: sorted } : status });
    });
  }

  /** `store.update`, run again (up to 5 times) when another write to the node came first. */
  async #update<T>(fn: (tx: Tx) => T): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#store.update(fn);
      } catch (err) {
        if (attempt >= 5 || !isConflict(err)) throw err;
      }
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

function isConflict(err: unknown): boolean {
  return isStoreError(err) && err.code === 'conflict';
}
