import type { StackChange } from '../../../api/stack.ts';
import { isClientError } from '../../../client/errors.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, link, replace } from '../dom.ts';
import { stackOf } from '../usage.ts';
import { summarizeService, tasksByService } from '../summary.ts';
import { actionClient } from './client.ts';
import { ComposeEditor } from './compose-editor.ts';
import { Feedback } from './feedback.ts';
import type { ActionPanel } from './panel.ts';
import { stackProblems } from './problems.ts';
import { composeSourceOf, deployPasted, PASTED_FILE, type PastedStackOutcome } from './stack-request.ts';

/**
 * Deploys (or redeploys) a stack from a pasted compose file. Check asks the manager for a dry
 * run (what a deploy would change); Deploy deploys what the same dry run accepts. A file with
 * problems is refused and nothing is deployed: each located problem is shown beside its line,
 * the rest above the editor, and the loader's warnings with them. After a deploy, the stack's
 * services show their running/desired counts as the cluster reports them.
 * With `existing`, the form starts from that stack's compose source as deployed.
 */
export function stackDeployForm(existing?: string): ActionPanel {
  const client = actionClient();
  const feedback = new Feedback('stack-error');
  const name = h('input', { type: 'text', name: 'stack', required: true, spellcheck: 'false', 'aria-label': 'stack name', 'data-test': 'stack-name', value: existing ?? '' });
  const prune = h('input', { type: 'checkbox', name: 'prune', 'data-test': 'stack-prune' });
  const editor = new ComposeEditor('compose file');
  const check = h('button', { type: 'button', 'data-action': 'check' }, 'Check');
  const deploy = h('button', { type: 'submit', 'data-action': 'deploy' }, 'Deploy');
  const warnings = h('ul', { class: 'warnings', 'data-test': 'stack-warnings' });
  const other = h('ul', { class: 'problem', 'data-test': 'stack-other-problems' });
  const changes = h('ul', { class: 'changes', 'data-test': 'stack-changes' });
  const services = h('tbody');
  const progress = h('table', { class: 'grid', 'data-test': 'stack-progress', hidden: true }, h('thead', {}, h('tr', {}, ...['service', 'replicas', 'status', 'why'].map((c) => h('th', {}, c)))), services);
  let deployed: string | undefined;
  let last: ClusterState | undefined;

  const show = (out: PastedStackOutcome | undefined, warned: readonly string[]): void => {
    const notes = [...warned];
    if (out && out.lacking.variables.length > 0) notes.push(`unset here (the dashboard has no environment): ${out.lacking.variables.join(', ')}`);
    if (out && out.lacking.files.length > 0) notes.push(`not sent (only the pasted file is): ${out.lacking.files.join(', ')}`);
    replace(warnings, ...notes.map((w) => h('li', {}, `warning: ${w}`)));
    const list: readonly StackChange[] = out?.deployed?.changes ?? out?.plan.changes ?? [];
    const verb = out?.deployed ? '' : 'would be ';
    replace(changes, ...list.map((c) => h('li', { 'data-change': c.action }, `${c.kind} ${c.name}: ${verb}${c.action}`)));
  };

  const submit = async (doDeploy: boolean): Promise<void> => {
    const stack = name.value.trim();
    const controls = [check, deploy, name];
    for (const c of controls) c.disabled = true;
    feedback.busy(doDeploy ? `Deploying stack ${stack}…` : `Checking stack ${stack}…`);
    editor.showProblems([]);
    replace(other);
    show(undefined, []);
    try {
      const out = await deployPasted(client, stack, editor.value, { deploy: doDeploy, prune: prune.checked });
      show(out, out.deployed?.warnings ?? out.plan.warnings);
      if (out.deployed) {
        deployed = stack;
        feedback.note(`Deployed stack ${stack}.`);
        if (last) panel.update(last);
      } else {
        feedback.note(out.plan.changes.every((c) => c.action === 'unchanged' || c.action === 'kept') ? 'No problems; a deploy would change nothing.' : 'No problems; a deploy would make these changes:');
      }
    } catch (err) {
      if (isClientError(err) && err.code === 'invalid_argument' && err.details.length > 0) {
        const p = stackProblems(err.details, PASTED_FILE);
        editor.showProblems(p.located);
        replace(other, ...p.other.map((o) => h('li', {}, o)));
        show(undefined, p.warnings);
        feedback.error(err, { details: false });
        feedback.element.append(h('p', {}, doDeploy ? 'Nothing was deployed.' : 'A deploy would be refused.'));
      } else {
        feedback.error(err);
      }
    } finally {
      for (const c of controls) c.disabled = false;
    }
  };

  check.addEventListener('click', () => void submit(false));
  const form = h(
    'form',
    {
      class: 'stack-form',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void submit(true);
      },
    },
    h('div', { class: 'action-row' }, h('label', {}, 'Stack ', name), h('label', {}, prune, ' remove services no longer in the file (prune)')),
    editor.element,
    h('div', { class: 'action-row' }, check, deploy),
  );
  const element = h('section', { class: 'actions stack-deploy', 'data-test': 'stack-deploy' }, form, feedback.element, other, warnings, changes, progress);

  if (existing !== undefined) {
    feedback.busy(`Reading stack ${existing}…`);
    client.getStack(existing).then(
      (stack) => {
        editor.value = composeSourceOf(stack) ?? '';
        feedback.clear();
      },
      (err: unknown) => feedback.error(err),
    );
  }

  const panel: ActionPanel = {
    element,
    update(state: ClusterState) {
      last = state;
      if (deployed === undefined) return;
      const mine = [...state.services.values()].filter((s) => stackOf(s.spec.labels) === deployed).sort((a, b) => a.spec.name.localeCompare(b.spec.name));
      const byService = tasksByService(state.tasks.values());
      progress.hidden = false;
      replace(
        services,
        ...mine.map((s) => {
          const sum = summarizeService(s, byService.get(s.id) ?? []);
          return h(
            'tr',
            { 'data-service': s.spec.name },
            h('td', {}, link(`/ui/services/${encodeURIComponent(s.spec.name)}`, s.spec.name)),
            h('td', { class: 'replicas' }, `${sum.running}/${sum.desired}`),
            h('td', { class: `health ${sum.health}` }, sum.health),
            h('td', { class: 'why' }, sum.why),
          );
        }),
      );
    },
  };
  return panel;
}
