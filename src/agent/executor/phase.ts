import type { DesiredState } from '../../api/task.ts';

/**
 * The pure core of a task runner: where the task's process is (`Phase`) and, given what the
 * manager wants, the one thing to do next. Phases only move forward:
 * assigned → prepared → running → exited | stopped | rejected → removed.
 */
export type Phase =
  /** Nothing done on this node yet (or a prepare to redo after an agent restart). */
  | 'assigned'
  /** `driver.prepare` succeeded: the container exists, not started. */
  | 'prepared'
  /** Started; an exit watcher is waiting on `driver.wait`. */
  | 'running'
  /** The process ended on its own (complete or failed). */
  | 'exited'
  /** Stopped (or never started) because the manager asked for shutdown. */
  | 'stopped'
  /** `driver.prepare` failed. */
  | 'rejected'
  /** `driver.remove` done: nothing left on the node. */
  | 'removed';

/** What the manager wants, plus `gone`: the task is no longer assigned (deleted from the store). */
export type Want = DesiredState | 'gone';

export type Action =
  | 'prepare'
  | 'start'
  /** Stop the running process (signal, grace period, kill). */
  | 'stop'
  /** Report `shutdown` for a task that never started. */
  | 'finish'
  | 'remove'
  /** Nothing to do until the process exits or the manager changes its mind. */
  | 'wait'
  /** The runner's work is over: it can be dropped. */
  | 'done';

export function nextAction(phase: Phase, want: Want): Action {
  switch (want) {
    case 'running':
      if (phase === 'assigned') return 'prepare';
      if (phase === 'prepared') return 'start';
      return 'wait';
    case 'shutdown':
      if (phase === 'assigned' || phase === 'prepared') return 'finish';
      if (phase === 'running') return 'stop';
      return 'wait';
    case 'remove':
    case 'gone':
      if (phase === 'running') return 'stop';
      if (phase === 'removed') return want === 'gone' ? 'done' : 'wait';
      return 'remove';
  }
}
