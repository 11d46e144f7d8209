import type { SessionErrorMessage } from '../../api/agent-protocol.ts';
import type { ManagerEntry } from '../../api/managers.ts';

/**
 * The manager's leadership as the sessions follow it: `Leadership` of `../leader/`, passed by
 * the composition root (a component does not import its sibling). Only the leader holds agent
 * sessions; every session is told the managers.
 */
export interface SessionsLeadership {
  readonly state: 'leader' | 'follower';
  /** Calls `listener` on each change of `state`; returns the unsubscribe function. */
  onChange(listener: (state: 'leader' | 'follower') => void): () => void;
  /** Every manager taking part now, the leader marked. */
  members(): readonly ManagerEntry[];
  /** Calls `listener` after each change of `members()`; returns the unsubscribe function. */
  onMembersChange(listener: () => void): () => void;
}

/**
 * The members as the wire carries them: only the fields of `ManagerEntry` (an implementation
 * may hand richer objects), sorted by address so equal lists compare equal.
 */
export function managerList(members: readonly ManagerEntry[]): ManagerEntry[] {
  return members
    .map((m) => ({ id: m.id, ...(m.nodeId === undefined ? {} : { nodeId: m.nodeId }), addr: m.addr, leader: m.leader }))
    .sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
}

/** The leader's address among the members, when one is marked. */
export function leaderAddr(members: readonly ManagerEntry[]): string | undefined {
  return members.find((m) => m.leader)?.addr;
}

/**
 * The refusal a follower sends a `hello`: coded `not_leader`, naming the leader when it is
 * known, with every manager, so the agent goes straight there.
 */
export function notLeaderRefusal(members: readonly ManagerEntry[]): SessionErrorMessage {
  const leader = leaderAddr(members);
  return {
    type: 'error',
    code: 'not_leader',
    message: `session refused: this manager is not the leader${leader === undefined ? ' (no leader is known yet: try the others)' : `; the leader is at ${leader}`}`,
    ...(leader === undefined ? {} : { leader }),
    managers: managerList(members),
  };
}

/**
 * What a manager that stopped leading tells each agent before it closes the session: coded
 * `leader_moved`, naming the new leader when it is known already.
 */
export function leaderMovedNotice(members: readonly ManagerEntry[]): SessionErrorMessage {
  const leader = leaderAddr(members);
  return {
    type: 'error',
    code: 'leader_moved',
    message: `leader moved: this manager no longer leads${leader === undefined ? '' : `; the leader is at ${leader}`}`,
    ...(leader === undefined ? {} : { leader }),
    managers: managerList(members),
  };
}
