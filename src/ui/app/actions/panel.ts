import type { ClusterState } from '../cluster-state.ts';

/**
 * A block of actions a view embeds (a service's, a node's, the stack editor): built once per
 * visit, `update`d with the cluster state whenever the view is (its progress is what the
 * cluster reports).
 */
export interface ActionPanel {
  readonly element: HTMLElement;
  update(state: ClusterState): void;
}
