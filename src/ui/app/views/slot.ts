import type { ClusterState } from '../cluster-state.ts';
import { h } from '../dom.ts';

/**
 * A block a view embeds and updates with the cluster state: where the actions (`app/actions/`)
 * go. `emptySlot(name)` is its placeholder: an empty `<div data-slot=NAME>` that the view
 * places and updates like any panel; the actions replace it by their panel
 * (`serviceActions(name)`, `nodeActions(nodeId)`, `stackDeployForm(name)`) — same shape.
 */
export interface Slot {
  readonly element: HTMLElement;
  update(state: ClusterState): void;
}

export function emptySlot(name: string): Slot {
  return { element: h('div', { class: 'slot-actions', 'data-slot': name }), update: () => {} };
}
