/**
 * Public options of the dispatcher: `Sessions` and `Liveness` take the same object, each reads
 * its part. Every field is optional with the documented default.
 */
export interface DispatcherOptions {
  /** How often agents send heartbeats. Default 1000 ms. */
  heartbeatPeriodMs?: number;
  /** A node is `down` after `heartbeatPeriodMs × graceMultiplier` without a message. Default 3. */
  graceMultiplier?: number;
  /** How often a live node's `status.heartbeatAt` is written to the store. Default 10 s. */
  heartbeatWriteIntervalMs?: number;
  /**
   * After liveness starts (a manager start, or a change of leader), how long a node that was up
   * and has not been heard from since may stay silent before it is marked down. Its agent
   * reconnects with backoff (up to 5 s between attempts) and tries the managers it knows in
   * turn, the dead one too, so finding the new leader can take two of those waits; an agent
   * whose leader was cut off (no reset, no close) first notices the silence (5 s). A failover
   * must not mark the nodes down and reschedule their tasks meanwhile. Default 15 s.
   */
  takeoverGraceMs?: number;
  /** How long status updates are collected before one batched commit. Default 50 ms. */
  statusBatchMs?: number;
  /** Most updates in one `store.batch`; a fuller queue is committed in several. Default 20,000. */
  maxStatusBatch?: number;
  /** A connection that does not say `hello` within this is closed. Default 10 s. */
  helloTimeoutMs?: number;
  /** Node ids of the managers' own agents: registered with role `manager`. Default none. */
  managerNodeIds?: readonly string[];
  /**
   * How long changes are collected before the network maps are recomputed and the changed
   * ones pushed (one store read per window). Default 50 ms.
   */
  networkMapDebounceMs?: number;
}

/** `DispatcherOptions` with every default filled in. */
export interface CompiledDispatcherOptions {
  readonly heartbeatPeriodMs: number;
  readonly graceMultiplier: number;
  readonly heartbeatWriteIntervalMs: number;
  readonly takeoverGraceMs: number;
  readonly statusBatchMs: number;
  readonly maxStatusBatch: number;
  readonly helloTimeoutMs: number;
  readonly managerNodeIds: ReadonlySet<string>;
  readonly networkMapDebounceMs: number;
  /** How often liveness is checked: a quarter of the heartbeat period. */
  readonly sweepIntervalMs: number;
}

export function compileDispatcherOptions(o: DispatcherOptions = {}): CompiledDispatcherOptions {
  const heartbeatPeriodMs = positive('heartbeatPeriodMs', o.heartbeatPeriodMs ?? 1000);
  return {
    heartbeatPeriodMs,
    graceMultiplier: positive('graceMultiplier', o.graceMultiplier ?? 3),
    heartbeatWriteIntervalMs: positive('heartbeatWriteIntervalMs', o.heartbeatWriteIntervalMs ?? 10_000),
    takeoverGraceMs: nonNegative('takeoverGraceMs', o.takeoverGraceMs ?? 15_000),
    statusBatchMs: nonNegative('statusBatchMs', o.statusBatchMs ?? 50),
    maxStatusBatch: positive('maxStatusBatch', o.maxStatusBatch ?? 20_000),
    helloTimeoutMs: positive('helloTimeoutMs', o.helloTimeoutMs ?? 10_000),
    managerNodeIds: new Set(o.managerNodeIds ?? []),
    networkMapDebounceMs: nonNegative('networkMapDebounceMs', o.networkMapDebounceMs ?? 50),
    sweepIntervalMs: Math.max(1, Math.floor(heartbeatPeriodMs / 4)),
  };
}

function positive(name: string, v: number): number {
  if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`dispatcher option ${name} must be a positive number, got ${v}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`dispatcher option ${name} must be 0 or more, got ${v}`);
  return v;
}
