import type { Node } from '../../../api/node.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link } from '../dom.ts';
import type { TaskLike } from '../summary.ts';
import { formatBytes, formatCpus, fraction, nodeUsage, type NodeUsage } from '../usage.ts';
import { VirtualList } from '../virtual-list.ts';
import type { View } from './view.ts';

/** A node's row: drawn again only when the node or one of the tasks on it changed. */
interface NodeRow {
  readonly node: Node;
  readonly tasks: readonly TaskLike[];
  readonly usage: NodeUsage;
}

const COLUMNS = ['hostname', 'role', 'status', 'availability', 'CPU reserved', 'memory reserved', 'tasks', 'labels'];

/**
 * `/ui/nodes`: every node — hostname (linked), role, status, availability, CPU and memory
 * reserved against capacity (bars), tasks on it, labels — a virtual list (only the rows in view
 * are in the DOM), a row made again only when its node or the tasks on it changed.
 */
export function nodesView(): View {
  const head = h('thead', {}, h('tr', {}, ...COLUMNS.map((c) => h('th', {}, c))));
  const list = new VirtualList<NodeRow>(nodeRow, { class: 'nodes', 'data-test': 'nodes', head, key: (r) => r.node.id });
  const empty = h('p', { class: 'muted', hidden: true });
  const element = h('section', {}, h('h2', {}, 'Nodes'), empty, list.element);
  let rows = new Map<string, NodeRow>();
  let seen = { nodes: -1, services: -1, tasks: -1, status: '' };
  return {
    title: 'Nodes',
    element,
    update(state: ClusterState) {
      const { nodes, services, tasks } = state.versions;
      if (nodes === seen.nodes && services === seen.services && tasks === seen.tasks && state.status === seen.status) return;
      // A service's resources count in its tasks' reservations: a service change redoes every row.
      if (services !== seen.services) rows = new Map();
      seen = { nodes, services, tasks, status: state.status };
      const sorted = [...state.nodes.values()].sort((a, b) => a.description.hostname.localeCompare(b.description.hostname) || a.id.localeCompare(b.id));
      empty.hidden = sorted.length > 0;
      empty.textContent = state.status === 'loading' ? 'Loading…' : 'No nodes have joined yet: flotilla join …';
      const next = new Map<string, NodeRow>();
      for (const node of sorted) {
        const on = state.tasksOn(node.id);
        const known = rows.get(node.id);
        next.set(node.id, known && known.node === node && known.tasks === on ? known : { node, tasks: on, usage: nodeUsage(node, on, state.services) });
      }
      rows = next;
      list.set([...next.values()]);
    },
  };
}

function nodeRow({ node: n, usage: u }: NodeRow): HTMLElement {
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
