/** Whether this manager leads the cluster (runs the control loops) or follows. */
export type LeadershipState = 'leader' | 'follower';

/**
 * A manager taking part in the cluster now (its membership is live: in etcd, a key under its
 * own lease). A manager that stopped or lost its link to the store is not among the members;
 * `node ls` shows a manager node without a member as Unreachable.
 */
export interface ManagerMember {
  /** The manager's own id (stable across restarts of its data dir). */
  readonly id: string;
  /** The node of the agent running beside it (`flotilla server` without `--no-agent`), if any. */
  readonly nodeId?: string;
  /** Where agents and clients reach it: `host:port` of its HTTPS listener (advertised). */
  readonly addr: string;
  /** Whether it holds the leadership now. */
  readonly leader: boolean;
}

/**
 * The term this manager leads in, as the store's backend knows it: a key of the backend's own
 * and the revision that created it, which exist exactly as long as the term (etcd: the leader
 * key under this manager's lease). Every write of the leader loops is fenced on it
 * (`Store.fenced`), so a manager that lost its term writes nothing, whatever its timers say.
 */
export interface LeadershipTerm {
  readonly key: string;
  readonly createRevision: number;
}

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
  /** Every manager taking part now, this one included, the leader marked. */
  members(): readonly ManagerMember[];
  /** Calls `listener` after each change of `members()`. Returns the unsubscribe function. */
  onMembersChange(listener: () => void): () => void;
  /**
   * The term this manager leads in now (undefined while following), for fencing the leader
   * loops' writes. Absent on a leadership whose writes need no fence (`AlwaysLeader`: one
   * manager alone on its store).
   */
  fence?(): LeadershipTerm | undefined;
  /**
   * The store refused a write fenced on `fence()`: that term has ended, whatever this
   * manager's view says (its watch may lag). The leadership looks again and steps down — unless
   * `refused` is an earlier term of its own (a write of a previous term that was still in
   * flight), which says nothing about the current one.
   */
  fenceRefused?(refused: LeadershipTerm): void;
  /** Records the node of the agent beside this manager, once known (it joins after the manager starts). */
  setNodeId?(nodeId: string): void;
  /** Stops taking part (an etcd implementation resigns); reports no change afterwards. Idempotent. */
  close(): Promise<void>;
}

/**
 * The leadership of a manager alone on its store (the embedded SQLite backend): it is the
 * leader from start to stop, and nothing ever changes.
 */
export class AlwaysLeader implements Leadership {
  #self: ManagerMember | undefined;

  /** `self`: this manager as a member (id, node, address); absent, `members()` is empty. */
  constructor(self?: Omit<ManagerMember, 'leader'>) {
    this.#self = self ? { ...self, leader: true } : undefined;
  }

  get state(): LeadershipState {
    return 'leader';
  }

  onChange(_listener: LeadershipListener): () => void {
    return () => {};
  }

  members(): readonly ManagerMember[] {
    return this.#self ? [this.#self] : [];
  }

  onMembersChange(_listener: () => void): () => void {
    return () => {};
  }

  setNodeId(nodeId: string): void {
    if (this.#self) this.#self = { ...this.#self, nodeId };
  }

  async close(): Promise<void> {}
}
