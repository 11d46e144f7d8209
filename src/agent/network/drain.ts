import type { Clock } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { TaskHook } from '../executor/hooks.ts';
import type { HostIpam } from './ipam.ts';
import type { NetworkSource } from './local-network.ts';

/**
 * The network hook's stop-side stages: a local task leaves this node's load balancers and DNS
 * answers before it dies, or at once when it dies on its own.
 *
 * - `ended` (the process exited or turned unhealthy): `endpointGone` at once, not awaited, so
 *   the rules change before the status even reaches the manager.
 * - `prestop` (the task is about to get its stop signal): `endpointGone`, awaited until the
 *   host's rules lack the task (at most `applyTimeoutMs`: a stuck data plane must not block a
 *   stop), then `drainMs` more so the other nodes apply the manager's map, which dropped the
 *   task when its desired state changed (Swarm waits 2 s for its gossip the same way). A task
 *   on no network, one that `ended` already (stopped after turning unhealthy), or one this
 *   host's rules never served (never healthy, a job's, a stray no map lists) is not kept
 *   waiting.
 */
export interface DrainDeps {
  readonly source: Pick<NetworkSource, 'endpointGone'>;
  readonly ipam: Pick<HostIpam, 'addressesOf'>;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface DrainOptions {
  /** How long a stopping task keeps running after this host's rules dropped it. Default 1 s. */
  readonly drainMs?: number;
  /** The longest wait for this host's rules to drop a stopping task. Default 5 s. */
  readonly applyTimeoutMs?: number;
}

export type DrainStages = Required<Pick<TaskHook, 'prestop' | 'ended'>> & {
  /** The task is removed: forget it. */
  forget(taskId: string): void;
};

export function drainStages(deps: DrainDeps, options: DrainOptions = {}): DrainStages {
  const drainMs = options.drainMs ?? 1_000;
  const applyTimeoutMs = options.applyTimeoutMs ?? 5_000;
  /** Tasks whose process ended or turned unhealthy: nothing new reaches them, no drain wait. */
  const ended = new Set<string>();

  /** Whether the task was (or may have been) served here: a timeout counts as served. */
  async function leaveRules(taskId: string, signal: AbortSignal): Promise<boolean> {
    const ac = new AbortController();
    const onAbort = (): void => ac.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let timedOut = false;
    const timeout = deps.clock.sleep(applyTimeoutMs, ac.signal).then(
      () => (timedOut = true),
      () => undefined,
    );
    let served = true;
    try {
      await Promise.race([deps.source.endpointGone(taskId).then((was) => (served = was)), timeout]);
    } finally {
      ac.abort();
      signal.removeEventListener('abort', onAbort);
    }
    if (timedOut) deps.logger.warn({ task: taskId, waitedMs: applyTimeoutMs }, 'the network data plane did not drop a stopping task in time; stopping it anyway');
    return timedOut || served;
  }

  return {
    ended(taskId: string): void {
      if (deps.ipam.addressesOf(taskId).length === 0) return;
      ended.add(taskId);
      deps.source.endpointGone(taskId).catch((err: unknown) => deps.logger.warn({ err, task: taskId }, 'cannot take an ended task out of the load balancers'));
    },
    async prestop(taskId: string, { signal }): Promise<void> {
      if (deps.ipam.addressesOf(taskId).length === 0) return;
      const served = await leaveRules(taskId, signal);
      if (!served || ended.has(taskId) || drainMs <= 0) return;
      await deps.clock.sleep(drainMs, signal);
    },
    forget(taskId: string): void {
      ended.delete(taskId);
    },
  };
}
