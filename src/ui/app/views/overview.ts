import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { nodeCounts, summarizeService, tasksByService, tasksByState } from '../summary.ts';
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
  return {
    title: 'Overview',
    element,
    update(state: ClusterState) {
      const n = nodeCounts(state.nodes.values());
      replace(nodes, h('h3', {}, link('/ui/nodes', 'Nodes')), figure(n.ready, 'ready', 'ok'), figure(n.down, 'down', n.down > 0 ? 'bad' : 'muted'));
      const byService = tasksByService(state.tasks.values());
      const health = { converged: 0, updating: 0, failing: 0 };
      for (const s of state.services.values()) health[summarizeService(s, byService.get(s.id) ?? []).health]++;
      replace(
        services,
        h('h3', {}, link('/ui/services', 'Services')),
        figure(health.converged, 'converged', 'ok'),
        figure(health.updating, 'updating', health.updating > 0 ? 'warn' : 'muted'),
        figure(health.failing, 'failing', health.failing > 0 ? 'bad' : 'muted'),
      );
      const counts = [...tasksByState(state.tasks.values())].filter(([, c]) => c > 0);
      replace(tasks, h('h3', {}, 'Tasks'), ...(counts.length === 0 ? [h('p', { class: 'muted' }, 'none')] : counts.map(([s, c]) => figure(c, s, `state-${s}`))));
      replace(
        events,
        ...(state.recent.length === 0
          ? [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Changes appear here as they happen.'))]
          : state.recent.slice(0, RECENT_SHOWN).map((e) => h('tr', {}, h('td', {}, e.revision), h('td', {}, e.kind), h('td', {}, e.action), h('td', {}, e.name), h('td', {}, e.detail)))),
      );
    },
  };
}

function figure(count: number, label: string, tone: string): HTMLElement {
  return h('div', { class: `figure ${tone}`, 'data-figure': label }, h('span', { class: 'count' }, count), h('span', { class: 'label' }, label));
}
