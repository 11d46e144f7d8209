import type { StatusUpdate } from '../../api/agent-protocol.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../store/store.ts';
import { judgeStatus } from './status-filter.ts';

/** Called once every update of one agent message has been written or deliberately dropped. */
export type IngestDone = () => void;

interface Pending {
  remaining: number;
  readonly done: IngestDone;
}

interface Item {
  readonly nodeId: string;
  readonly update: StatusUpdate;
  readonly owner: Pending;
  attempts: number;
}

const MAX_ATTEMPTS = 3;

/**
 * Task status ingest: collects agents' reports for `batchMs`, then commits them in one
 * `store.batch`, dropping the ones `judgeStatus` refuses. One commit runs at a time; what
 * arrives meanwhile goes into the next one, so batches grow with load.
 */
export class StatusIngest {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #batchMs: number;
  readonly #maxBatch: number;
  #queue: Item[] = [];
  #timer: TimerHandle | undefined;
  #draining: Promise<void> | undefined;

  constructor(deps: { store: Store; clock: Clock; logger: Logger }, options: { batchMs: number; maxBatch: number }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#batchMs = options.batchMs;
    this.#maxBatch = options.maxBatch;
  }

  /** Queues one message's updates; `done` runs once all of them are settled. */
  add(nodeId: string, updates: readonly StatusUpdate[], done: IngestDone): void {
    if (updates.length === 0) {
      done();
      return;
    }
    const owner: Pending = { remaining: updates.length, done };
    for (const update of updates) this.#queue.push({ nodeId, update, owner, attempts: 0 });
    if (this.#draining || this.#timer) return;
    this.#timer = this.#clock.setTimer(this.#batchMs, () => {
      this.#timer = undefined;
      this.#kick();
    });
  }

  /** Commits everything queued now and waits for it. */
  async flush(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#kick();
    await this.#draining;
  }

  #kick(): void {
    if (this.#draining || this.#queue.length === 0) return;
    this.#draining = this.#drain().finally(() => (this.#draining = undefined));
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const items = this.#queue.splice(0, this.#maxBatch);
      const ok = await this.#commit(items);
      // A failed commit (store unavailable) is retried after a pause, not in a hot loop.
      if (!ok) await this.#clock.sleep(Math.max(this.#batchMs, 100));
    }
  }

  /** Writes one batch; false when the whole commit failed (the items are queued again). */
  async #commit(items: Item[]): Promise<boolean> {
    const store = this.#store;
    const settled: Item[] = [];
    const writes: Item[] = [];
    for (const it of items) {
      const verdict = judgeStatus(store.tasks.get(it.update.taskId), it.nodeId, it.update.status);
      if (verdict === 'apply') writes.push(it);
      else settled.push(it);
    }
    if (writes.length > 0) {
      let result: { committed: number; errors: Array<{ index: number; error: Error }> };
      try {
        result = await store.batch((b) => {
          for (const it of writes) {
            b.update((tx) => {
              const task = tx.tasks.get(it.update.taskId);
              // Re-judged against the state the write applies to: another writer may have won.
              if (!task || judgeStatus(task, it.nodeId, it.update.status) !== 'apply') return;
              tx.tasks.update({ ...task, status: it.update.status });
            });
          }
        });
      } catch (err) {
        this.#logger.warn({ err, updates: writes.length }, 'status batch failed; retrying');
        this.#queue.unshift(...writes);
        this.#finish(settled);
        return false;
      }
      const failed = new Set<number>();
      for (const e of result.errors) {
        failed.add(e.index);
        const it = writes[e.index];
        if (!it) continue;
        it.attempts++;
        if (it.attempts < MAX_ATTEMPTS) this.#queue.push(it);
        else {
          this.#logger.warn({ err: e.error, taskId: it.update.taskId }, 'dropping task status update');
          settled.push(it);
        }
      }
      writes.forEach((it, i) => {
        if (!failed.has(i)) settled.push(it);
      });
    }
    this.#finish(settled);
    return true;
  }

  #finish(items: Item[]): void {
    for (const it of items) {
      if (--it.owner.remaining === 0) it.owner.done();
    }
  }
}
