import type { Catalog } from '../catalog.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { stackServices } from '../usage.ts';
import { catalogProblem } from './secrets.ts';
import type { View } from './view.ts';

/** `/ui/stacks`: every stack — its services (running/desired each), when it was deployed, warnings. */
export function stacksView(catalog: Catalog): View {
  const body = h('tbody');
  const problem = h('p', { class: 'problem', hidden: true });
  const actions = h('p', { class: 'slot-actions', 'data-slot': 'stacks-actions' }, link('/ui/stacks/deploy', 'Deploy a stack'));
  const element = h(
    'section',
    {},
    h('h2', {}, 'Stacks'),
    actions,
    problem,
    h('table', { class: 'grid', 'data-test': 'stacks' }, h('thead', {}, h('tr', {}, ...['name', 'services', 'updated', 'warnings'].map((c) => h('th', {}, c)))), body),
  );
  return {
    title: 'Stacks',
    element,
    update(state: ClusterState) {
      catalogProblem(problem, catalog);
      const stacks = [...catalog.stacks.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
      if (stacks.length === 0) {
        replace(body, h('tr', {}, h('td', { colspan: 4, class: 'muted' }, catalog.status === 'loading' ? 'Loading…' : 'No stacks yet: flotilla stack deploy -c compose.yaml NAME')));
        return;
      }
      const services = [...state.services.values()];
      replace(
        body,
        ...stacks.map((s) => {
          const mine = stackServices(s, services);
          return h(
            'tr',
            { 'data-stack': s.spec.name },
            h('td', {}, link(`/ui/stacks/${encodeURIComponent(s.spec.name)}`, s.spec.name)),
            h('td', { class: 'services' }, ...mine.flatMap((svc, i) => [i > 0 ? ', ' : '', link(`/ui/services/${encodeURIComponent(svc.spec.name)}`, svc.spec.name)])),
            h('td', { title: s.updatedAt }, s.updatedAt.replace('T', ' ').slice(0, 19)),
            h('td', { class: s.warnings.length > 0 ? 'warn' : 'muted' }, s.warnings.length > 0 ? String(s.warnings.length) : '—'),
          );
        }),
      );
    },
  };
}
