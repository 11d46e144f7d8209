import type { Task } from '../../../api/task.ts';
import { serviceActions } from '../actions/service-actions.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, replace } from '../dom.ts';
import { orderTasks, summarizeService } from '../summary.ts';
import { VirtualList } from '../virtual-list.ts';
import { imageOf, portsOf } from './services.ts';
import type { View } from './view.ts';

/**
 * `/ui/services/NAME`: the service's facts and its tasks — slot, node, state and health (and
 * desired state), since when, exit code, and the error or the reason a pending task waits.
 */
export function serviceView(name: string): View {
  const facts = h('dl', { class: 'facts', 'data-test': 'facts' });
  let nodeName: (id: string | undefined) => string = () => '';
  const list = new VirtualList<Task>((t) => taskRow(t, nodeName), { class: 'tasks', 'data-test': 'tasks' });
  const header = h('div', { class: 'trow thead' }, ...['task', 'node', 'state', 'desired', 'since', 'exit', 'error / reason'].map((c) => h('span', {}, c)));
  const missing = h('p', { class: 'muted', hidden: true }, `No service named ${name}.`);
  const actions = serviceActions(name);
  const element = h('section', {}, h('h2', {}, name), missing, facts, actions.element, h('h3', {}, 'Tasks'), header, list.element);
  return {
    title: name,
    element,
    update(state: ClusterState) {
      actions.update(state);
      const service = [...state.services.values()].find((s) => s.spec.name === name);
      missing.hidden = service !== undefined || state.status === 'loading';
      if (!service) {
        replace(facts);
        list.set([]);
        return;
      }
      nodeName = (id) => (id === undefined ? '' : (state.nodes.get(id)?.description.hostname ?? id.slice(0, 12)));
      const tasks = [...state.tasks.values()].filter((t) => t.serviceId === service.id);
      const sum = summarizeService(service, tasks);
      replace(
        facts,
        ...fact('mode', service.spec.mode),
        ...fact('replicas', `${sum.running}/${sum.desired}`),
        ...fact('status', sum.health, `health ${sum.health}`),
        ...fact('image', imageOf(service)),
        ...(service.spec.endpoint.ports.length > 0 ? fact('ports', portsOf(service)) : []),
        ...(service.updateStatus ? fact('update', `${service.updateStatus.state} ${service.updateStatus.message}`) : []),
        ...fact('spec version', String(service.specVersion)),
      );
      list.set(orderTasks(tasks));
    },
  };
}

function fact(term: string, value: string, cls = ''): HTMLElement[] {
  return [h('dt', {}, term), h('dd', { class: cls, 'data-fact': term }, value)];
}

function taskRow(t: Task, nodeName: (id: string | undefined) => string): HTMLElement {
  const why = t.status.err ?? (t.status.state === 'pending' || t.status.state === 'new' ? t.status.message : '');
  return h(
    'div',
    { class: `trow state-${t.status.state}`, 'data-task': t.id, 'data-state': t.status.state },
    h('span', { class: 'mono' }, `${t.serviceName}.${t.slot ?? t.nodeId?.slice(0, 6) ?? ''}`),
    h('span', {}, nodeName(t.nodeId)),
    h('span', { class: 'state', title: t.status.health ?? '' }, t.status.health ? `${t.status.state} · ${t.status.health}` : t.status.state),
    h('span', {}, t.desiredState),
    h('span', { title: t.status.timestamp }, since(t.status.timestamp)),
    h('span', {}, t.status.exitCode ?? ''),
    h('span', { class: 'why', title: why }, why),
  );
}

/** "12s ago", "4m ago", "3h ago" from an ISO time. */
export function since(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}
