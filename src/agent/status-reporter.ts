import type { StatusMessage, StatusUpdate } from '../api/agent-protocol.ts';
import type { TaskStatus } from '../api/task.ts';
import type { Clock, TimerHandle } from '../lib/clock.ts';

interface Entry {
  readonly status: TaskStatus;
  /** The `status` message this entry went out in; undefined = not sent on this session. */
  seq: number | undefined;
}

/**
 * The agent's outbox of task statuses. Keeps the latest status per task until the manager
 * acknowledges the message that carried it; collects reports for `batchMs` into one message;
 * re-sends everything unacknowledged when a new session attaches.
 */
export class StatusReporter {
  readonly #clock: Clock;
  readonly #batchMs: number;
  readonly #maxPerMessage: number;
  readonly #pending = new Map<string, Entry>();
  readonly #inflight = new Map<number, string[]>();
  #seq = 0;
  #send: ((message: StatusMessage) => void) | undefined;
  #timer: TimerHandle | undefined;

  constructor(deps: { clock: Clock }, options: { batchMs: number; maxPerMessage?: number }) {
    this.#clock = deps.clock;
    this.#batchMs = options.batchMs;
    this.#maxPerMessage = options.maxPerMessage ?? 2_000;
  }

  /** Statuses not yet acknowledged. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** The latest status reported for a task and not yet acknowledged. */
  pending(taskId: string): TaskStatus | undefined {
    return this.#pending.get(taskId)?.status;
  }

  report(taskId: string, status: TaskStatus): void {
    this.#pending.set(taskId, { status, seq: undefined });
    this.#schedule();
  }

  /** A session is ready: everything unacknowledged goes out on it. */
  attach(send: (message: StatusMessage) => void): void {
    this.#send = send;
    this.#inflight.clear();
    for (const e of this.#pending.values()) e.seq = undefined;
    this.flush();
  }

  /** The session is gone; reports wait for the next one. */
  detach(): void {
    this.#send = undefined;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  ack(seq: number): void {
    const ids = this.#inflight.get(seq);
    if (!ids) return;
    this.#inflight.delete(seq);
    for (const id of ids) {
      // A newer status for the task (not yet sent, or in a later message) stays.
      if (this.#pending.get(id)?.seq === seq) this.#pending.delete(id);
    }
  }

  /** Sends every unsent status now. */
  flush(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    const send = this.#send;
    if (!send) return;
    let updates: StatusUpdate[] = [];
    let ids: string[] = [];
    const emit = (): void => {
      const seq = ++this.#seq;
      for (const id of ids) {
        const e = this.#pending.get(id);
        if (e) e.seq = seq;
      }
      this.#inflight.set(seq, ids);
      send({ type: 'status', seq, updates });
      updates = [];
      ids = [];
    };
    for (const [taskId, e] of this.#pending) {
      if (e.seq !== undefined) continue;
      updates.push({ taskId, status: e.status });
      ids.push(taskId);
      if (updates.length >= this.#maxPerMessage) emit();
    }
    if (updates.length > 0) emit();
  }

  #schedule(): void {
    if (!this.#send || this.#timer) return;
    this.#timer = this.#clock.setTimer(this.#batchMs, () => {
      this.#timer = undefined;
      this.flush();
    });
  }
}
