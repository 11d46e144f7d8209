import type { Service } from '../../../api/service.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link } from '../dom.ts';
import type { ServiceSummary } from '../summary.ts';
import { VirtualList } from '../virtual-list.ts';
import type { View } from './view.ts';

/**
 * `/ui/services`: every service with its mode, running/desired, image, ports and update state —
 * a virtual list (only the rows in view are in the DOM), its summaries cached by the state.
 */
export function servicesView(): View {
  const head = h('thead', {}, h('tr', {}, ...['name', 'mode', 'replicas', 'image', 'ports', 'update', 'status'].map((c) => h('th', {}, c))));
  const list = new VirtualList<ServiceSummary>(serviceRow, { class: 'services', 'data-test': 'services', head, key: (s) => s.service.id });
  const empty = h('p', { class: 'muted', hidden: true }, 'No services yet: flotilla service create …');
  const element = h('section', {}, empty, list.element);
  let sorted: Service[] = [];
  let seen = { services: -1, tasks: -1, status: '' };
  return {
    title: 'Services',
    element,
    update(state: ClusterState) {
      const { services, tasks } = state.versions;
      if (services === seen.services && tasks === seen.tasks && state.status === seen.status) return;
      if (services !== seen.services) sorted = [...state.services.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
      seen = { services, tasks, status: state.status };
      empty.hidden = sorted.length > 0 || state.status === 'loading';
      list.set(sorted.map((s) => state.summary(s)));
    },
  };
}

function serviceRow(sum: ServiceSummary): HTMLElement {
  const s = sum.service;
  return h(
    'tr',
    { 'data-service': s.spec.name },
    h('td', {}, link(`/ui/services/${encodeURIComponent(s.spec.name)}`, s.spec.name)),
    h('td', {}, s.spec.mode),
    h('td', { class: 'replicas' }, `${sum.running}/${sum.desired}`),
    h('td', { class: 'mono' }, imageOf(s)),
    h('td', { class: 'mono' }, portsOf(s)),
    h('td', {}, s.updateStatus ? `${s.updateStatus.state}${s.updateStatus.message ? `: ${s.updateStatus.message}` : ''}` : ''),
    h('td', { class: `health ${sum.health}`, title: sum.why }, sum.health),
  );
}

/** The image, or the command of an exec service. */
export function imageOf(s: Service): string {
  const c = s.spec.taskTemplate.container;
  return c.image ?? (c.command ?? []).join(' ');
}

export function portsOf(s: Service): string {
  return s.spec.endpoint.ports.map((p) => `${p.published}→${p.target}/${p.protocol}${p.mode === 'host' ? ' (host)' : ''}`).join(', ');
}
