import type { Service } from '../../../api/service.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { summarizeService, tasksByService, updateProgress, type TaskLike } from '../summary.ts';
import { progressBar } from './nodes.ts';
import type { View } from './view.ts';

/** `/ui/services`: every service with its mode, running/desired, image, ports and update state. */
export function servicesView(): View {
  const body = h('tbody');
  const element = h(
    'section',
    {},
    h(
      'table',
      { class: 'grid', 'data-test': 'services' },
      h('thead', {}, h('tr', {}, ...['name', 'mode', 'replicas', 'image', 'ports', 'update', 'status'].map((c) => h('th', {}, c)))),
      body,
    ),
  );
  return {
    title: 'Services',
    element,
    update(state: ClusterState) {
      const byService = tasksByService(state.tasks.values());
      const rows = [...state.services.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
      if (rows.length === 0) {
        replace(body, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No services yet: flotilla service create …')));
        return;
      }
      replace(
        body,
        ...rows.map((s) => {
          const sum = summarizeService(s, byService.get(s.id) ?? []);
          return h(
            'tr',
            { 'data-service': s.spec.name },
            h('td', {}, link(`/ui/services/${encodeURIComponent(s.spec.name)}`, s.spec.name)),
            h('td', {}, s.spec.mode),
            h('td', { class: 'replicas' }, `${sum.running}/${sum.desired}`),
            h('td', { class: 'mono' }, imageOf(s)),
            h('td', { class: 'mono' }, portsOf(s)),
            h('td', { class: 'update' }, updateCell(s, byService.get(s.id) ?? [])),
            h('td', { class: `health ${sum.health}`, title: sum.why }, sum.health),
          );
        }),
      );
    },
  };
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
