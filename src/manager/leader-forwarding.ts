import type { LeaderForwarding, LeaderView } from './controlapi/server.ts';
import type { PeerClient } from './http/peer-client.ts';
import type { Leadership } from './leader/leadership.ts';

/**
 * What the control API forwards to the leader with (`LeaderForwarding`), from the manager's
 * leadership and its peer client: who leads (this manager while its leadership says `leader`;
 * else the member marked leader, when it is another), told of every change of either.
 */
export function leaderForwarding(leadership: Leadership, selfId: string, peers: PeerClient): LeaderForwarding {
  return {
    selfId,
    leader: () => leaderView(leadership, selfId),
    onLeaderChange(listener) {
      const offState = leadership.onChange(() => listener());
      const offMembers = leadership.onMembersChange(listener);
      return () => {
        offState();
        offMembers();
      };
    },
    request: (addr, init) => peers.request(addr, init),
  };
}

/**
 * Who leads as `leadership` says now. A member list that still marks this manager while its
 * state says `follower` (its lease lost, the key not yet gone) names no leader: unknown.
 */
function leaderView(leadership: Pick<Leadership, 'state' | 'members'>, selfId: string): LeaderView {
  if (leadership.state === 'leader') return { kind: 'self' };
  const leader = leadership.members().find((m) => m.leader);
  if (!leader || leader.id === selfId) return { kind: 'unknown' };
  return { kind: 'other', id: leader.id, addr: leader.addr };
}
