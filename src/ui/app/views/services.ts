import type { Service } from '../../../api/service.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link } from '../dom.ts';
import { updateProgress, type ServiceSummary, type TaskLike } from '../summary.ts';
import { VirtualList } from '../virtual-list.ts';
import { progressBar } from './nodes.ts';
import type { View } from './view.ts';

/**
 * `/ui/services`: every service with its mode, running/desired, image, ports and update state —
 * a virtual list (only the rows in view are in the DOM), its summaries cached by the state.
 */
export function servicesView(): View {
  const head = h('thead', {}, h('tr', {}, ...['name', 'mode', 'replicas', 'image', 'ports', 'update', 'status'].map((c) => h('th', {}, c))));
  let current: ClusterState | undefined;
  // A row is drawn again when its summary changes (the service or one of its tasks did).
  const row = (sum: ServiceSummary): HTMLElement => serviceRow(sum, current?.tasksOf(sum.service.id) ?? []);
  const list = new VirtualList<ServiceSummary>(row, { class: 'services', 'data-test': 'services', head, key: (s) => s.service.id });
  const empty = h('p', { class: 'muted', hidden: true }, 'No services yet: flotilla service create …');
  const element = h('section', {}, empty, list.element);
  let sorted: Service[] = [];
  let seen = { services: -1, tasks: -1, status: '' };
  return {
    title: 'Services',
    element,
    update(state: ClusterState) {
      current = state;
      const { services, tasks } = state.versions;
      if (services === seen.services && tasks === seen.tasks && state.status === seen.status) return;
      if (services !== seen.services) sorted = [...state.services.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
      seen = { services, tasks, status: state.status };
      empty.hidden = sorted.length > 0 || state.status === 'loading';
      list.set(sorted.map((s) => state.summary(s)));
    },
  };
}

function serviceRow(sum: ServiceSummary, tasks: readonly TaskLike[]): HTMLElement {
  const s = sum.service;
  return h(
    'tr',
    { 'data-service': s.spec.name },
    h('td', {}, link(`/ui/services/${encodeURIComponent(s.spec.name)}`, s.spec.name)),
    h('td', {}, s.spec.mode),
    h('td', { class: 'replicas' }, `${sum.running}/${sum.desired}`),
    h('td', { class: 'mono' }, imageOf(s)),
    h('td', { class: 'mono' }, portsOf(s)),
    h('td', { class: 'update' }, updateCell(s, tasks)),
    h('td', { class: `health ${sum.health}`, title: sum.why }, sum.health),
  );
}

/** A rollout's progress: a bar of slots updated / total, and its state (paused, rolling back) with its message. */
export function updateCell(s: Service, tasks: readonly TaskLike[]): HTMLElement | string {
  const p = updateProgress(s, tasks);
  if (!p) return '';
  const tone = p.paused ? 'paused' : p.rollingBack ? 'rollback' : p.state === 'updating' ? 'updating' : 'done';
  return h('span', { class: `update-state ${tone}`, title: p.message, 'data-update': p.state }, progressBar(p.updated, p.total, `${p.updated}/${p.total}`), ` ${p.state.replace('_', ' ')}`);
}

/** The image, or the command of an exec service. */
export function imageOf(s: Service): string {
  const c = s.spec.taskTemplate.container;
  return c.image ?? (c.command ?? []).join(' ');
}

export function portsOf(s: Service): string {
  return s.spec.endpoint.ports.map((p) => `${p.published}→${p.target}/${p.protocol}${p.mode === 'host' ? ' (host)' : ''}`).join(', ');
}
