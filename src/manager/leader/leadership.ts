/** Whether this manager leads the cluster (runs the control loops) or follows. */
export type LeadershipState = 'leader' | 'follower';

/** Called on every change of `Leadership.state`, with the new state. */
export type LeadershipListener = (state: LeadershipState) => void;

/**
 * Who leads, as this manager sees it. Every manager serves the API and agent sessions; only
 * the leader runs the control loops (`LeaderLoopRunner`). Losing leadership is an event, not
 * something to poll: the listener is called with `follower` as soon as this manager is no
 * longer sure it leads (an etcd lease lost or expiring), and what follows it must stop its
 * leader-only work at once.
 */
export interface Leadership {
  readonly state: LeadershipState;
  /**
   * Calls `listener` on each change from now on (not with the current state; read `state` in
   * the same synchronous step). Returns the unsubscribe function.
   */
  onChange(listener: LeadershipListener): () => void;
  /** Stops taking part (an etcd implementation resigns); reports no change afterwards. Idempotent. */
  close(): Promise<void>;
}

/**
 * The leadership of a manager alone on its store (the embedded SQLite backend): it is the
 * leader from start to stop, and nothing ever changes.
 */
export class AlwaysLeader implements Leadership {
  get state(): LeadershipState {
    return 'leader';
  }

  onChange(_listener: LeadershipListener): () => void {
    return () => {};
  }

  async close(): Promise<void> {}
}
