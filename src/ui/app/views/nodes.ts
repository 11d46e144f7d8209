import type { Node } from '../../../api/node.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import type { TaskLike } from '../summary.ts';
import { formatBytes, formatCpus, fraction, nodeUsage, type NodeUsage } from '../usage.ts';
import type { View } from './view.ts';

/**
 * `/ui/nodes`: every node — hostname (linked), role, status, availability, CPU and memory
 * reserved against capacity (bars), tasks on it, labels.
 */
export function nodesView(): View {
  const body = h('tbody');
  const element = h(
    'section',
    {},
    h('h2', {}, 'Nodes'),
    h(
      'table',
      { class: 'grid', 'data-test': 'nodes' },
      h('thead', {}, h('tr', {}, ...['hostname', 'role', 'status', 'availability', 'CPU reserved', 'memory reserved', 'tasks', 'labels'].map((c) => h('th', {}, c)))),
      body,
    ),
  );
  return {
    title: 'Nodes',
    element,
    update(state: ClusterState) {
      const nodes = [...state.nodes.values()].sort((a, b) => a.description.hostname.localeCompare(b.description.hostname) || a.id.localeCompare(b.id));
      if (nodes.length === 0) {
        replace(body, h('tr', {}, h('td', { colspan: 8, class: 'muted' }, state.status === 'loading' ? 'Loading…' : 'No nodes have joined yet: flotilla join …')));
        return;
      }
      const byNode = tasksByNode(state);
      replace(
        body,
        ...nodes.map((n) => {
          const u = nodeUsage(n, byNode.get(n.id) ?? [], state.services);
          return h(
            'tr',
            { 'data-node': n.id, 'data-hostname': n.description.hostname },
            h('td', {}, link(`/ui/nodes/${encodeURIComponent(n.id)}`, n.description.hostname)),
            h('td', {}, n.spec.role),
            h('td', { class: `node-state ${n.status.state}` }, n.status.state),
            h('td', { class: `availability ${n.spec.availability}` }, n.spec.availability),
            h('td', {}, cpuBar(u)),
            h('td', {}, memBar(u)),
            h('td', { class: 'count' }, u.tasks),
            h('td', { class: 'mono' }, labelsText(n)),
          );
        }),
      );
    },
  };
}

/** The tasks of each node id (every task that names a node). */
export function tasksByNode(state: ClusterState): Map<string, TaskLike[]> {
  const by = new Map<string, TaskLike[]>();
  for (const t of state.tasks.values()) {
    if (t.nodeId === undefined) continue;
    const list = by.get(t.nodeId);
    if (list) list.push(t);
    else by.set(t.nodeId, [t]);
  }
  return by;
}

export function cpuBar(u: NodeUsage): HTMLElement {
  return progressBar(u.cpuReserved, u.cpuTotal, `${formatCpus(u.cpuReserved)} of ${formatCpus(u.cpuTotal)}`, 0.9);
}

export function memBar(u: NodeUsage): HTMLElement {
  return progressBar(u.memReserved, u.memTotal, `${formatBytes(u.memReserved)} of ${formatBytes(u.memTotal)}`, 0.9);
}

/** A bar filled to `used/total`, with its text beside it (readable without colour); from `highAt` (0..1) on, in the warning colour. */
export function progressBar(used: number, total: number, text: string, highAt = Infinity): HTMLElement {
  const f = fraction(used, total);
  const fill = h('span', { class: `fill ${f >= highAt ? 'high' : ''}` });
  fill.style.width = `${Math.round(f * 100)}%`;
  return h('span', { class: 'bar', role: 'img', 'aria-label': text, title: text }, h('span', { class: 'track' }, fill), h('span', { class: 'bar-text' }, text));
}

export function labelsText(n: Node): string {
  return Object.entries(n.spec.labels).map(([k, v]) => `${k}=${v}`).join(', ');
}
