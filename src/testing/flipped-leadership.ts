import type { Leadership, LeadershipListener, LeadershipState, ManagerMember } from '../manager/leader/leadership.ts';

/**
 * A leadership a test flips by hand (`set`), for tests of what follows leadership: the loop
 * runner and the manager. Records whether it was closed and how many listeners it has.
 */
export class FlippedLeadership implements Leadership {
  state: LeadershipState;
  closed = false;
  readonly #listeners = new Set<LeadershipListener>();

  constructor(state: LeadershipState = 'follower') {
    this.state = state;
  }

  onChange(listener: LeadershipListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Moves to `state` and tells every listener. */
  set(state: LeadershipState): void {
    this.state = state;
    for (const l of this.#listeners) l(state);
  }

  /** The members `members()` reports; set with `setMembers`. */
  #members: readonly ManagerMember[] = [];
  readonly #memberListeners = new Set<() => void>();

  members(): readonly ManagerMember[] {
    return this.#members;
  }

  onMembersChange(listener: () => void): () => void {
    this.#memberListeners.add(listener);
    return () => this.#memberListeners.delete(listener);
  }

  /** Replaces the members and tells every members listener. */
  setMembers(members: readonly ManagerMember[]): void {
    this.#members = members;
    for (const l of this.#memberListeners) l();
  }

  /** How many listeners follow it now. */
  get listeners(): number {
    return this.#listeners.size;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
