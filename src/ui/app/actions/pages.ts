import type { Node } from '../../../api/node.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import type { View } from '../views/view.ts';
import { nodeActions } from './node-actions.ts';
import type { ActionPanel } from './panel.ts';
import { stackDeployForm } from './stack-deploy.ts';

/**
 * The pages the actions need where the app has no view of its own yet: the stack editor
 * (`/ui/stacks/deploy`, `?stack=NAME` to edit a deployed one), and a minimal node list and
 * node page (`/ui/nodes`, `/ui/nodes/NAME`) carrying `nodeActions`. Undefined for any other
 * path. When the app's own nodes and stacks views exist, they embed `nodeActions(id)` and
 * `stackDeployForm(name?)` and these minimal pages go.
 */
export function actionPage(path: string, search = ''): View | undefined {
  if (/^\/ui\/stacks\/deploy\/?$/.test(path)) {
    const existing = new URLSearchParams(search).get('stack') ?? undefined;
    const panel = stackDeployForm(existing);
    const intro = h('p', { class: 'muted' }, 'Paste a compose file. Check shows what a deploy would change; Deploy deploys it. A file with problems deploys nothing.');
    return { title: existing ? `Update stack ${existing}` : 'Deploy a stack', element: h('section', {}, h('h2', {}, existing ? `Update stack ${existing}` : 'Deploy a stack'), intro, panel.element), update: (s) => panel.update(s) };
  }
  const m = /^\/ui\/nodes\/([^/]+)\/?$/.exec(path);
  if (m?.[1] !== undefined) return nodePage(decodeURIComponent(m[1]));
  if (/^\/ui\/nodes\/?$/.test(path)) return nodesPage();
  return undefined;
}

function findNode(state: ClusterState, ref: string): Node | undefined {
  return state.nodes.get(ref) ?? [...state.nodes.values()].find((n) => n.description.hostname === ref);
}

/** `/ui/nodes/NAME` (hostname or id): the node's state and its actions. */
function nodePage(ref: string): View {
  const facts = h('p', { class: 'muted', 'data-test': 'node-facts' });
  const slot = h('div');
  const heading = h('h2', {}, ref);
  let panel: ActionPanel | undefined;
  return {
    title: ref,
    element: h('section', {}, heading, facts, slot),
    update(state) {
      const node = findNode(state, ref);
      if (!node) {
        facts.textContent = state.status === 'loading' ? '' : `No node ${ref}.`;
        return;
      }
      heading.textContent = node.description.hostname;
      facts.textContent = `${node.spec.role} · ${node.status.state} · ${node.spec.availability} · ${node.id}`;
      if (!panel) {
        panel = nodeActions(node.id);
        replace(slot, panel.element);
      }
      panel.update(state);
    },
  };
}

/** `/ui/nodes`: each node with its id, state and availability, linked to its page. */
function nodesPage(): View {
  const body = h('tbody');
  return {
    title: 'Nodes',
    element: h('section', {}, h('table', { class: 'grid', 'data-test': 'nodes' }, h('thead', {}, h('tr', {}, ...['hostname', 'id', 'role', 'state', 'availability', 'labels'].map((c) => h('th', {}, c)))), body)),
    update(state) {
      const nodes = [...state.nodes.values()].sort((a, b) => a.description.hostname.localeCompare(b.description.hostname) || a.id.localeCompare(b.id));
      // Nodes on one machine share a hostname: those are linked by id.
      const named = new Map<string, number>();
      for (const n of nodes) named.set(n.description.hostname, (named.get(n.description.hostname) ?? 0) + 1);
      const ref = (n: Node): string => (named.get(n.description.hostname) === 1 ? n.description.hostname : n.id);
      replace(
        body,
        ...nodes.map((n) =>
          h(
            'tr',
            { 'data-node': n.id },
            h('td', {}, link(`/ui/nodes/${encodeURIComponent(ref(n))}`, n.description.hostname)),
            h('td', { class: 'mono' }, n.id.slice(0, 12)),
            h('td', {}, n.spec.role),
            h('td', {}, n.status.state),
            h('td', { class: 'availability' }, n.spec.availability),
            h('td', { class: 'mono' }, Object.entries(n.spec.labels).map(([k, v]) => `${k}=${v}`).join(', ')),
          ),
        ),
      );
    },
  };
}
