import type { ClusterState } from '../cluster-state.ts';

/** A page of the dashboard: built once per visit, updated (at most once a frame) on changes. */
export interface View {
  readonly title: string;
  readonly element: HTMLElement;
  update(state: ClusterState): void;
  /** Called when the visit ends (another view replaces it): close what it opened (a log stream). */
  dispose?(): void;
}
