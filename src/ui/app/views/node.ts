import type { Node } from '../../../api/node.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { nodeActions } from '../actions/node-actions.ts';
import type { ActionPanel } from '../actions/panel.ts';
import { orderTasks } from '../summary.ts';
import { nodeUsage } from '../usage.ts';
import { eventsTable } from './events-table.ts';
import { cpuBar, labelsText, memBar } from './nodes.ts';
import { since } from './service.ts';
import type { View } from './view.ts';

/**
 * `/ui/nodes/REF` (id or hostname): the node's status, availability, role, platform and
 * engine, CPU and memory reserved against capacity, labels; the tasks on it (live ones first);
 * its events; its actions (`nodeActions`).
 */
export function nodeView(ref: string): View {
  const title = h('h2', {}, ref);
  const facts = h('dl', { class: 'facts', 'data-test': 'node-facts' });
  const missing = h('p', { class: 'muted', hidden: true }, `No node ${ref}. `, link('/ui/nodes', 'All nodes'));
  const body = h('tbody');
  const tasks = h(
    'table',
    { class: 'grid', 'data-test': 'node-tasks' },
    h('thead', {}, h('tr', {}, ...['task', 'state', 'desired', 'since', 'error'].map((c) => h('th', {}, c)))),
    body,
  );
  // The node's actions, made once the node (and so its id) is known.
  let actions: ActionPanel | undefined;
  const actionsHolder = h('div');
  const events = eventsTable('node-events', 'This node’s changes appear here as they happen.');
  const element = h('section', {}, title, missing, facts, actionsHolder, h('h3', {}, 'Tasks'), tasks, h('h3', {}, 'Events'), events.element);
  return {
    title: ref,
    element,
    update(state: ClusterState) {
      const node = findNode(state, ref);
      missing.hidden = node !== undefined || state.status === 'loading';
      if (!node) {
        replace(facts);
        replace(body);
        return;
      }
      title.textContent = node.description.hostname;
      if (!actions) {
        actions = nodeActions(node.id);
        replace(actionsHolder, actions.element);
      }
      actions.update(state);
      const on = state.tasksOn(node.id);
      const u = nodeUsage(node, on, state.services);
      const d = node.description;
      replace(
        facts,
        ...fact('status', `${node.status.state}${node.status.message ? `: ${node.status.message}` : ''}`, `node-state ${node.status.state}`),
        ...fact('availability', node.spec.availability, `availability ${node.spec.availability}`),
        ...fact('role', node.spec.role),
        ...fact('address', node.status.addr),
        ...(node.status.heartbeatAt ? fact('heartbeat', since(node.status.heartbeatAt)) : []),
        ...fact('platform', `${d.platform.os}/${d.platform.arch}`),
        ...fact('drivers', d.drivers.join(', ')),
        ...(d.engine ? fact('engine', `${d.engine.name} ${d.engine.version}`) : []),
        h('dt', {}, 'CPU reserved'),
        h('dd', { 'data-fact': 'cpu' }, cpuBar(u)),
        h('dt', {}, 'memory reserved'),
        h('dd', { 'data-fact': 'memory' }, memBar(u)),
        ...fact('tasks', String(u.tasks)),
        ...fact('labels', labelsText(node) || '—', 'mono'),
        ...fact('id', node.id, 'mono'),
      );
      const rows = orderTasks(on);
      replace(
        body,
        ...(rows.length === 0
          ? [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No tasks on this node.'))]
          : rows.map((t) =>
              h(
                'tr',
                { class: `state-${t.status.state}`, 'data-task': t.id, 'data-state': t.status.state },
                h('td', {}, link(`/ui/services/${encodeURIComponent(t.serviceName)}`, `${t.serviceName}.${t.slot ?? t.id.slice(0, 6)}`)),
                h('td', { class: 'state' }, t.status.health ? `${t.status.state} · ${t.status.health}` : t.status.state),
                h('td', {}, t.desiredState),
                h('td', { title: t.status.timestamp }, since(t.status.timestamp)),
                h('td', { class: 'why' }, t.status.err ?? ''),
              ),
            )),
      );
      events.update(state.recent.filter((e) => e.nodeId === node.id));
    },
  };
}

function findNode(state: ClusterState, ref: string): Node | undefined {
  return state.nodes.get(ref) ?? [...state.nodes.values()].find((n) => n.description.hostname === ref);
}

function fact(term: string, value: string, cls = ''): HTMLElement[] {
  return [h('dt', {}, term), h('dd', { class: cls, 'data-fact': term }, value)];
}
