import type { Service } from '../../../api/service.ts';
import { serviceActions } from '../actions/service-actions.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { slotRows, updateProgress, type ServiceSummary, type SlotRow, type TaskLike } from '../summary.ts';
import { stackOf } from '../usage.ts';
import { VirtualList } from '../virtual-list.ts';
import { eventsTable } from './events-table.ts';
import { progressBar } from './nodes.ts';
import { serviceLogs } from './service-logs.ts';
import { serviceSpec } from './service-spec.ts';
import { imageOf, portsOf } from './services.ts';
import type { View } from './view.ts';

const COLUMNS = ['task', 'node', 'state', 'health', 'desired', 'since', 'exit', 'error / reason'];

/**
 * `/ui/services/NAME`: the service's facts and rollout progress; its tasks by slot — node,
 * state, health, desired state, since when, exit code, the error or the reason a pending task
 * waits — each slot's older tasks collapsed behind it; its logs streamed from every task; its
 * spec (readable and raw JSON); its events; its actions (`serviceActions`) under the facts.
 */
export function serviceView(name: string): View {
  const facts = h('dl', { class: 'facts', 'data-test': 'facts' });
  const expanded = new Set<string>();
  let nodeName: (id: string | undefined) => string = () => '';
  let last: ClusterState | undefined;
  /** Flipped when a slot's history opens or closes (the rows are made again). */
  let toggled = false;
  const toggle = (slot: string): void => {
    if (expanded.has(slot)) expanded.delete(slot);
    else expanded.add(slot);
    toggled = !toggled;
    if (last) draw(last);
  };
  const list = new VirtualList<SlotRow>((r) => taskRow(r, nodeName, expanded.has(r.slot), toggle), { class: 'tasks', 'data-test': 'tasks' });
  const header = h('div', { class: 'trow st thead' }, ...COLUMNS.map((c) => h('span', {}, c)));
  const missing = h('p', { class: 'muted', hidden: true }, `No service named ${name}. `, link('/ui/services', 'All services'));
  const stackLine = h('p', { class: 'muted', hidden: true });
  const actions = serviceActions(name);
  const logs = serviceLogs(name);
  const spec = serviceSpec();
  const events = eventsTable('service-events', 'This service’s changes appear here as they happen.');
  const element = h(
    'section',
    {},
    h('h2', {}, name),
    stackLine,
    missing,
    facts,
    actions.element,
    h('h3', {}, 'Tasks'),
    h('p', { class: 'muted small' }, 'One row per slot: its current task; a slot’s older tasks open below it.'),
    header,
    list.element,
    h('h3', {}, 'Logs'),
    logs.element,
    h('h3', {}, 'Spec'),
    spec.element,
    h('h3', {}, 'Events'),
    events.element,
  );

  // What was drawn: the state keeps a service's tasks and summary (the same objects) until they change.
  let shown: { summary?: ServiceSummary; tasks?: readonly TaskLike[]; toggled?: boolean } = {};
  const draw = (state: ClusterState): void => {
    last = state;
    const service = state.serviceByName(name);
    missing.hidden = service !== undefined || state.status === 'loading';
    spec.update(service);
    if (!service) {
      replace(facts);
      stackLine.hidden = true;
      list.set([]);
      events.update([]);
      shown = {};
      return;
    }
    nodeName = (id) => (id === undefined ? '' : (state.nodes.get(id)?.description.hostname ?? id.slice(0, 12)));
    const tasks = state.tasksOf(service.id);
    const summary = state.summary(service);
    if (summary !== shown.summary) {
      drawFacts(facts, service, summary, tasks);
      const stack = stackOf(service.spec.labels);
      stackLine.hidden = stack === undefined;
      if (stack !== undefined) replace(stackLine, 'Part of stack ', link(`/ui/stacks/${encodeURIComponent(stack)}`, stack));
    }
    if (tasks !== shown.tasks || toggled !== shown.toggled) list.set(slotRows(tasks, expanded));
    shown = { summary, tasks, toggled };
    events.update(state.recent.filter((e) => e.serviceId === service.id));
  };

  return {
    title: name,
    element,
    update(state: ClusterState) {
      actions.update(state);
      logs.update(state);
      draw(state);
    },
    dispose() {
      logs.dispose();
    },
  };
}

function drawFacts(facts: HTMLElement, service: Service, sum: ServiceSummary, tasks: readonly TaskLike[]): void {
  const progress = updateProgress(service, tasks);
  replace(
    facts,
    ...fact('mode', service.spec.mode),
    ...fact('replicas', `${sum.running}/${sum.desired}`),
    ...fact('status', sum.health, `health ${sum.health}`),
    ...(sum.why !== '' ? fact('why', sum.why, 'why') : []),
    ...fact('image', imageOf(service)),
    ...(service.spec.endpoint.ports.length > 0 ? fact('ports', portsOf(service)) : []),
    ...(progress ? [h('dt', {}, 'update'), h('dd', { 'data-fact': 'update', class: `update ${progress.paused ? 'paused' : ''} ${progress.rollingBack ? 'rollback' : ''}` }, progressBar(progress.updated, progress.total, `${progress.updated}/${progress.total} updated`), ` ${progress.message || progress.state.replace('_', ' ')}`)] : []),
    ...fact('spec version', String(service.specVersion)),
  );
}

function fact(term: string, value: string, cls = ''): HTMLElement[] {
  return [h('dt', {}, term), h('dd', { class: cls, 'data-fact': term }, value)];
}

function taskRow(r: SlotRow, nodeName: (id: string | undefined) => string, open: boolean, toggle: (slot: string) => void): HTMLElement {
  const t = r.task;
  const why = t.status.err ?? (t.status.state === 'pending' || t.status.state === 'new' ? t.status.message : '');
  const name = `${t.serviceName}.${t.slot ?? t.nodeId?.slice(0, 6) ?? ''}`;
  const first =
    r.kind === 'older'
      ? h('span', { class: 'mono older-name', title: t.id }, `↳ ${t.id.slice(0, 10)}`)
      : h(
          'span',
          { class: 'mono', title: t.id },
          name,
          r.older > 0
            ? h('button', { type: 'button', class: 'link history', 'aria-expanded': String(open), 'data-test': 'history', onclick: () => toggle(r.slot) }, open ? ` ▾ ${r.older} older` : ` ▸ ${r.older} older`)
            : undefined,
        );
  return h(
    'div',
    { class: `trow st state-${t.status.state} ${r.kind}`, 'data-task': t.id, 'data-state': t.status.state, 'data-row': r.kind },
    first,
    h('span', {}, t.nodeId ? link(`/ui/nodes/${encodeURIComponent(t.nodeId)}`, nodeName(t.nodeId)) : ''),
    h('span', { class: 'state' }, t.status.state),
    h('span', { class: `health ${t.status.health ?? ''}` }, t.status.health ?? ''),
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
