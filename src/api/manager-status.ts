import type { ManagerEntry } from './managers.ts';

/** A node's MANAGER STATUS, as `docker node ls` shows it; empty for a worker. */
export type ManagerStatus = 'Leader' | 'Reachable' | 'Unreachable' | '';

/**
 * The MANAGER STATUS of a node, computed from the live members (never stored): a worker has
 * none; a manager node is `Leader` or `Reachable` when a live member runs beside its agent
 * (`nodeId`), and `Unreachable` when none does (its manager stopped or lost the store).
 */
export function managerStatus(node: { readonly id: string; readonly spec: { readonly role: string } }, managers: readonly ManagerEntry[]): ManagerStatus {
  if (node.spec.role !== 'manager') return '';
  const m = managers.find((x) => x.nodeId === node.id);
  return m === undefined ? 'Unreachable' : m.leader ? 'Leader' : 'Reachable';
}
