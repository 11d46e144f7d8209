import type { Stack } from '../../../api/stack.ts';
import type { Catalog } from '../catalog.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { stackServices } from '../usage.ts';
import { catalogProblem } from './secrets.ts';
import type { View } from './view.ts';

/**
 * `/ui/stacks/NAME`: the stack's services (mode, running/desired, health, why not converged),
 * the secrets, configs and networks it owns, its warnings, and its compose source as deployed:
 * the files the deploy sent (`spec.files`, the compose files first; secret files are never
 * kept), with the profiles and variables it used. A link opens it in the stack editor.
 */
export function stackView(name: string, catalog: Catalog): View {
  const missing = h('p', { class: 'muted', hidden: true }, `No stack named ${name}. `, link('/ui/stacks', 'All stacks'));
  const problem = h('p', { class: 'problem', hidden: true });
  const body = h('tbody');
  const owns = h('dl', { class: 'facts', 'data-test': 'stack-facts' });
  const warnings = h('ul', { class: 'warnings' });
  const source = h('div', { class: 'source', 'data-test': 'stack-source' });
  // The stack's action: its source opened in the stack editor (`actionPage`), to change and deploy again.
  const actions = h('p', { class: 'slot-actions', 'data-slot': 'stack-actions' }, link(`/ui/stacks/deploy?stack=${encodeURIComponent(name)}`, 'Update this stack'));
  const element = h(
    'section',
    {},
    h('h2', {}, name),
    missing,
    problem,
    owns,
    actions,
    h('h3', {}, 'Services'),
    h('table', { class: 'grid', 'data-test': 'stack-services' }, h('thead', {}, h('tr', {}, ...['name', 'mode', 'replicas', 'status', 'why'].map((c) => h('th', {}, c)))), body),
    warnings,
    h('h3', {}, 'Compose source, as deployed'),
    source,
  );
  let drawnVersion = -1;
  return {
    title: name,
    element,
    update(state: ClusterState) {
      catalogProblem(problem, catalog);
      const stack = [...catalog.stacks.values()].find((s) => s.spec.name === name);
      missing.hidden = stack !== undefined || catalog.status === 'loading';
      if (!stack) {
        replace(body);
        replace(owns);
        replace(source);
        drawnVersion = -1;
        return;
      }
      const services = stackServices(stack, state.services.values());
      replace(
        body,
        ...(services.length === 0
          ? [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'The stack has no services.'))]
          : services.map((s) => {
              const sum = state.summary(s);
              return h(
                'tr',
                { 'data-service': s.spec.name },
                h('td', {}, link(`/ui/services/${encodeURIComponent(s.spec.name)}`, s.spec.name)),
                h('td', {}, s.spec.mode),
                h('td', { class: 'replicas' }, `${sum.running}/${sum.desired}`),
                h('td', { class: `health ${sum.health}` }, sum.health),
                h('td', { class: 'why' }, sum.why),
              );
            })),
      );
      replace(
        owns,
        ...fact('secrets', namesOf(stack.resources.secrets, catalog.secrets)),
        ...fact('configs', namesOf(stack.resources.configs, catalog.configs)),
        ...fact('networks', String(stack.resources.networks?.length ?? 0)),
        ...fact('updated', stack.updatedAt),
      );
      replace(warnings, ...stack.warnings.map((w) => h('li', {}, w)));
      if (stack.version !== drawnVersion) {
        drawnVersion = stack.version;
        replace(source, ...sourceOf(stack));
      }
    },
  };
}

/** The deployed files, compose files first (in merge order), then the others; then what the load used. */
function sourceOf(stack: Stack): HTMLElement[] {
  const spec = stack.spec;
  const order = new Map(spec.composeFiles.map((f, i) => [f, i]));
  const files = [...spec.files].sort((a, b) => (order.get(a.path) ?? Infinity) - (order.get(b.path) ?? Infinity) || a.path.localeCompare(b.path));
  const out: HTMLElement[] = files.map((f) =>
    h('details', { open: order.has(f.path) ? true : undefined, 'data-file': f.path }, h('summary', { class: 'mono' }, f.path, order.has(f.path) ? '' : ' (read by the compose files)'), h('pre', { class: 'raw mono' }, f.content)),
  );
  if (files.length === 0) out.push(h('p', { class: 'muted' }, 'The stack keeps no files.'));
  const used: string[] = [];
  if (spec.profiles.length > 0) used.push(`profiles: ${spec.profiles.join(', ')}`);
  const vars = Object.keys(spec.environment);
  if (vars.length > 0) used.push(`variables set: ${vars.join(', ')}`);
  if (spec.unsetVariables.length > 0) used.push(`variables unset: ${spec.unsetVariables.join(', ')}`);
  if (spec.missingFiles.length > 0) used.push(`files absent: ${spec.missingFiles.join(', ')}`);
  if (used.length > 0) out.push(h('p', { class: 'muted' }, used.join(' · ')));
  return out;
}

function namesOf(ids: readonly string[], table: ReadonlyMap<string, { spec: { name: string } }>): string {
  return ids.map((id) => table.get(id)?.spec.name ?? id.slice(0, 12)).join(', ') || '—';
}

function fact(term: string, value: string): HTMLElement[] {
  return [h('dt', {}, term), h('dd', { 'data-fact': term }, value)];
}
