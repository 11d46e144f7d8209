import type { RecentEvent } from '../cluster-state.ts';
import { h, replace } from '../dom.ts';

/** Rows an events table shows at most. */
const SHOWN = 50;

/**
 * A table of events from the stream (newest first): revision, kind, action, object, state.
 * `update(events)` redraws it; with none it says what will appear.
 */
export function eventsTable(testId: string, empty = 'Changes appear here as they happen.'): { element: HTMLElement; update(events: readonly RecentEvent[]): void } {
  const body = h('tbody');
  const element = h(
    'table',
    { class: 'grid events', 'data-test': testId },
    h('thead', {}, h('tr', {}, ...['rev', 'kind', 'action', 'object', 'state'].map((c) => h('th', {}, c)))),
    body,
  );
  return {
    element,
    update(events) {
      if (events.length === 0) {
        replace(body, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, empty)));
        return;
      }
      replace(body, ...events.slice(0, SHOWN).map((e) => h('tr', {}, h('td', {}, e.revision), h('td', {}, e.kind), h('td', {}, e.action), h('td', {}, e.name), h('td', {}, e.detail))));
    },
  };
}
