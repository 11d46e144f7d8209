import type { ClusterState } from '../cluster-state.ts';

/** A page of the dashboard: built once per visit, updated (at most once a frame) on changes. */
export interface View {
  readonly title: string;
  readonly element: HTMLElement;
  update(state: ClusterState): void;
}
