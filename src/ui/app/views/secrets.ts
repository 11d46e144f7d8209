import type { Config, Secret } from '../../../api/secret.ts';
import type { Catalog } from '../catalog.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { formatBytes, STACK_LABEL, stackOf, usersOf } from '../usage.ts';
import type { View } from './view.ts';

/**
 * `/ui/secrets` (and `/ui/configs`, the same page): secrets and configs, metadata only — name,
 * created and updated, labels, size, the stack that owns it, which services use it. A secret's
 * data never reaches the dashboard (the API never returns it); a config's is not shown either.
 */
export function secretsView(catalog: Catalog): View {
  const problem = h('p', { class: 'problem', hidden: true });
  const secrets = table('secrets');
  const configs = table('configs');
  const element = h(
    'section',
    {},
    problem,
    h('h2', { id: 'secrets' }, 'Secrets'),
    h('p', { class: 'muted small' }, 'Metadata only: a secret’s content never leaves the manager.'),
    secrets.element,
    h('h2', { id: 'configs' }, 'Configs'),
    configs.element,
  );
  return {
    title: 'Secrets and configs',
    element,
    update(state: ClusterState) {
      catalogProblem(problem, catalog);
      const services = [...state.services.values()];
      const loading = catalog.status === 'loading';
      secrets.update(sorted(catalog.secrets), (s) => usersOf('secret', s.id, services), (s) => formatBytes(s.sizeBytes), loading ? 'Loading…' : 'No secrets: printf … | flotilla secret create NAME -');
      configs.update(sorted(catalog.configs), (c) => usersOf('config', c.id, services), (c) => formatBytes(Math.floor((c.data.length * 3) / 4)), loading ? 'Loading…' : 'No configs: flotilla config create NAME FILE');
    },
  };
}

function sorted<T extends Secret | Config>(m: ReadonlyMap<string, T>): T[] {
  return [...m.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
}

function table(kind: 'secrets' | 'configs'): { element: HTMLElement; update<T extends Secret | Config>(rows: readonly T[], users: (o: T) => string[], size: (o: T) => string, empty: string): void } {
  const body = h('tbody');
  const element = h(
    'table',
    { class: 'grid', 'data-test': kind },
    h('thead', {}, h('tr', {}, ...['name', 'created', 'updated', 'size', 'labels', 'stack', 'used by'].map((c) => h('th', {}, c)))),
    body,
  );
  return {
    element,
    update(rows, users, size, empty) {
      if (rows.length === 0) {
        replace(body, h('tr', {}, h('td', { colspan: 7, class: 'muted' }, empty)));
        return;
      }
      replace(
        body,
        ...rows.map((o) => {
          const used = users(o);
          const labels = Object.entries(o.spec.labels).filter(([k]) => k !== STACK_LABEL);
          const stack = stackOf(o.spec.labels);
          return h(
            'tr',
            { 'data-name': o.spec.name },
            h('td', { class: 'mono' }, o.spec.name),
            h('td', { title: o.createdAt }, day(o.createdAt)),
            h('td', { title: o.updatedAt }, day(o.updatedAt)),
            h('td', {}, size(o)),
            h('td', { class: 'mono' }, labels.map(([k, v]) => `${k}=${v}`).join(', ')),
            h('td', {}, stack !== undefined ? link(`/ui/stacks/${encodeURIComponent(stack)}`, stack) : ''),
            h('td', { class: 'used-by' }, ...(used.length === 0 ? [h('span', { class: 'muted' }, 'unused')] : used.flatMap((n, i) => [i > 0 ? ', ' : '', link(`/ui/services/${encodeURIComponent(n)}`, n)]))),
          );
        }),
      );
    },
  };
}

/** `2026-12-03 00:41:07` from an ISO time. */
function day(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}

/** Shows the catalog's problem (its lists could not be read) in `el`, or hides it. */
export function catalogProblem(el: HTMLElement, catalog: Catalog): void {
  el.hidden = catalog.status !== 'failed';
  el.textContent = catalog.status === 'failed' ? `Cannot read stacks, secrets and configs: ${catalog.problem}` : '';
}
