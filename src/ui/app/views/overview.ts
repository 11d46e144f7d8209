import type { ClusterState, RecentEvent } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import type { View } from './view.ts';

/** Events the overview lists (the state keeps more, for the service and node pages). */
const RECENT_SHOWN = 50;

/** `/ui/`: nodes ready/down, services converged/updating/failing, tasks by state, recent events. */
export function overviewView(): View {
  const nodes = h('div', { class: 'card', 'data-test': 'nodes' });
  const services = h('div', { class: 'card', 'data-test': 'services' });
  const tasks = h('div', { class: 'card', 'data-test': 'tasks' });
  const events = h('tbody');
  const element = h(
    'section',
    { class: 'overview' },
    h('div', { class: 'cards' }, nodes, services, tasks),
    h('h2', {}, 'Recent events'),
    h('table', { class: 'grid', 'data-test': 'events' }, h('thead', {}, h('tr', {}, h('th', {}, 'rev'), h('th', {}, 'kind'), h('th', {}, 'action'), h('th', {}, 'object'), h('th', {}, 'state'))), events),
  );
  let drawn = '';
  /** The newest recent event drawn; undefined when the list drawn is empty, null before the first draw. */
  let newest: RecentEvent | undefined | null = null;
  return {
    title: 'Overview',
    element,
    update(state: ClusterState) {
      const n = state.nodeCounts();
      const health = state.serviceHealth();
      const counts = [...state.taskCounts()].filter(([, c]) => c > 0);
      // Counts are kept by the state; the cards are drawn again only when a figure changed.
      const figures = JSON.stringify([n, health, counts]);
      if (figures !== drawn) {
        drawn = figures;
        replace(nodes, h('h3', {}, link('/ui/nodes', 'Nodes')), figure(n.ready, 'ready', 'ok'), figure(n.down, 'down', n.down > 0 ? 'bad' : 'muted'));
        replace(
          services,
          h('h3', {}, link('/ui/services', 'Services')),
          figure(health.converged, 'converged', 'ok'),
          figure(health.updating, 'updating', health.updating > 0 ? 'warn' : 'muted'),
          figure(health.failing, 'failing', health.failing > 0 ? 'bad' : 'muted'),
        );
        replace(tasks, h('h3', {}, 'Tasks'), ...(counts.length === 0 ? [h('p', { class: 'muted' }, 'none')] : counts.map(([s, c]) => figure(c, s, `state-${s}`))));
      }
      newest = drawEvents(events, state.recent, newest);
    },
  };
}

/**
 * Draws the recent events: rows for the events newer than the newest drawn (`state.recent` is
 * newest first) go on top, the oldest beyond `RECENT_SHOWN` go; returns the newest drawn.
 */
function drawEvents(body: HTMLElement, all: readonly RecentEvent[], newest: RecentEvent | undefined | null): RecentEvent | undefined {
  if (newest !== null && all[0] === newest) return newest;
  const recent = all.slice(0, RECENT_SHOWN);
  if (recent.length === 0) {
    replace(body, h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Changes appear here as they happen.')));
    return undefined;
  }
  const known = newest ? recent.indexOf(newest) : -1;
  const fresh = (known < 0 ? recent : recent.slice(0, known)).map((e) => h('tr', {}, h('td', {}, e.revision), h('td', {}, e.kind), h('td', {}, e.action), h('td', {}, e.name), h('td', {}, e.detail)));
  if (known < 0) replace(body, ...fresh);
  else body.prepend(...fresh);
  while (body.children.length > recent.length) body.lastElementChild?.remove();
  return recent[0];
}

function figure(count: number, label: string, tone: string): HTMLElement {
  return h('div', { class: `figure ${tone}`, 'data-figure': label }, h('span', { class: 'count' }, count), h('span', { class: 'label' }, label));
}
