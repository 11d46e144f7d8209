import type { Task } from '../../api/task.ts';
import type { DriverTask } from '../drivers/driver.ts';

/**
 * Task hooks: per-node work around a task's container that is not the driver's (secret and
 * config files, the network attachment: `network/hook.ts`). The executor runs the node's hooks
 * in order before the driver prepares a task (`prestart`), in reverse order before a running
 * task gets its stop signal (`prestop`), at once when its process ends on its own or turns
 * unhealthy (`ended`), and in reverse order once the task's process is removed (`poststop`).
 * See "Task hooks" in `agent/README.md` for the contract.
 */

/** The fields of `DriverTask` the executor fills from the manager's task (not hook business). */
type TaskFields = 'id' | 'serviceId' | 'serviceName' | 'nodeId' | 'slot' | 'spec' | 'ports';

/**
 * What hooks contribute to the driver's view of a task: every optional part of `DriverTask`
 * that does not come from the task itself (`fileMounts`, `secretsDir`, `configsDir` from the
 * files hook; `networks`, `resolvConf` from the network hook).
 */
export type Prepared = Partial<Omit<DriverTask, TaskFields>>;

/** What a hook's `prestart` gets besides the task. */
export interface PrestartContext {
  /** What the hooks before this one contributed (read-only: return additions instead). */
  readonly prepared: Prepared;
  /** Aborted when the agent stops, or when the manager no longer wants the task running: give up and throw. */
  readonly signal: AbortSignal;
}

/** One task hook. Both stages are optional. */
export interface TaskHook {
  /** Short name, for logs and errors ("files", "network"). */
  readonly name: string;
  /**
   * Before the driver prepares the task. Returns what it adds to the driver's view of the task
   * (merged with earlier hooks' additions: lists are appended, a field set twice is an error),
   * or nothing. Throwing rejects the task with the error's message as the reason; a hook that
   * throws must not leave a half-done job to anyone but its own (idempotent) `poststop`.
   */
  prestart?(task: Task, context: PrestartContext): Promise<Prepared | undefined>;
  /**
   * The task's running process is about to get its stop signal (desired `shutdown` or
   * `remove`, no longer assigned, a stray found at recovery, or stopped after turning
   * unhealthy). Awaited before the signal, so a hook can drain the task's traffic first (the
   * network hook takes it out of the load balancers and DNS). A failure is logged and the stop
   * goes on; `signal` aborts when the agent stops.
   */
  prestop?(taskId: string, context: { readonly signal: AbortSignal }): Promise<void>;
  /**
   * The task's process exited on its own (any exit code) or its health check turned it
   * `unhealthy`: called at once, before its status is reported, and not awaited (the network
   * hook's local fast path). Must not throw. Not called when the agent stops.
   */
  ended?(taskId: string): void;
  /**
   * After the task's process is removed (or was never created), and for tasks found at
   * recovery that are no longer assigned: undo what `prestart` did. Gets only the task id
   * (a stray found at recovery has no task any more). Must be idempotent and succeed for a
   * task it never saw.
   */
  poststop?(taskId: string): Promise<void>;
}

/** A hook's `prestart` failed: the task is rejected with `message` (the hook's own message). */
export class TaskHookError extends Error {
  override readonly name = 'TaskHookError';
  readonly hook: string;
  constructor(hook: string, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.hook = hook;
  }
}

export function isTaskHookError(e: unknown): e is TaskHookError {
  return e instanceof TaskHookError;
}

/** The outcome of `runPrestart`: the merged additions, or the failure after cleanup. */
export type PrestartResult = { readonly ok: true; readonly prepared: Prepared } | { readonly ok: false; readonly error: TaskHookError };

/**
 * Runs the hooks' `prestart` in order, merging what they add. When one throws, the
 * `poststop` of every hook whose `prestart` was called, the failing one included (it may have
 * done part of its work), runs in reverse order, and the failure is returned.
 */
export async function runPrestart(hooks: readonly TaskHook[], task: Task, signal: AbortSignal, onCleanupError?: (hook: string, err: unknown) => void): Promise<PrestartResult> {
  let prepared: Prepared = {};
  const called: TaskHook[] = [];
  for (const hook of hooks) {
    called.push(hook);
    try {
      const added = await hook.prestart?.(task, { prepared, signal });
      if (added) prepared = mergePrepared(prepared, added, hook.name);
    } catch (err) {
      const error = isTaskHookError(err) ? err : new TaskHookError(hook.name, err instanceof Error ? err.message : String(err), { cause: err });
      // A cleanup failure is only logged (`onCleanupError`): the task's reason is the hook's.
      await runPoststop(called, task.id, onCleanupError).catch(() => undefined);
      return { ok: false, error };
    }
  }
  return { ok: true, prepared };
}

/**
 * Runs the hooks' `poststop` in reverse order, each even when an earlier one failed; then
 * throws the first failure (the caller retries: hooks are idempotent). `onError` sees every
 * failure.
 */
export async function runPoststop(hooks: readonly TaskHook[], taskId: string, onError?: (hook: string, err: unknown) => void): Promise<void> {
  let first: unknown;
  let failed = false;
  for (const hook of [...hooks].reverse()) {
    if (!hook.poststop) continue;
    try {
      await hook.poststop(taskId);
    } catch (err) {
      onError?.(hook.name, err);
      if (!failed) first = err;
      failed = true;
    }
  }
  if (failed) throw first;
}

/**
 * Runs the hooks' `prestop` in reverse order, one after the other; a failure goes to `onError`
 * and never stops the others (nor the stop that follows).
 */
export async function runPrestop(hooks: readonly TaskHook[], taskId: string, signal: AbortSignal, onError?: (hook: string, err: unknown) => void): Promise<void> {
  for (const hook of [...hooks].reverse()) {
    if (!hook.prestop || signal.aborted) continue;
    try {
      await hook.prestop(taskId, { signal });
    } catch (err) {
      if (!signal.aborted) onError?.(hook.name, err);
    }
  }
}

/** Tells every hook the task's process ended or turned unhealthy (`ended`); a throw goes to `onError`. */
export function notifyEnded(hooks: readonly TaskHook[], taskId: string, onError?: (hook: string, err: unknown) => void): void {
  for (const hook of hooks) {
    try {
      hook.ended?.(taskId);
    } catch (err) {
      onError?.(hook.name, err);
    }
  }
}

/** `a` plus `b`'s additions: lists appended; a single value set by two hooks is an error. */
export function mergePrepared(a: Prepared, b: Prepared, hook: string): Prepared {
  const out: Record<string, unknown> = { ...a };
  for (const [key, value] of Object.entries(b)) {
    if (value === undefined) continue;
    const had = out[key];
    if (had === undefined) out[key] = value;
    else if (Array.isArray(had) && Array.isArray(value)) out[key] = [...(had as unknown[]), ...(value as unknown[])];
    else throw new TaskHookError(hook, `task hook ${hook} sets ${key}, which an earlier hook already set`);
  }
  return out as Prepared;
}
