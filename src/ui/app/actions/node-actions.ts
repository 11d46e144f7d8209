import type { Node, NodeAvailability } from '../../../api/node.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h, replace } from '../dom.ts';
import { actionClient } from './client.ts';
import { confirmAction } from './confirm.ts';
import { Feedback, runAction } from './feedback.ts';
import { describeNodeProgress, nodeProgress } from './node-progress.ts';
import type { ActionPanel } from './panel.ts';

const AVAILABILITY: ReadonlyArray<readonly [NodeAvailability, string]> = [
  ['active', 'Activate'],
  ['pause', 'Pause'],
  ['drain', 'Drain…'],
];

/**
 * A node's actions, for the node's page: activate, pause or drain it (a drain is confirmed
 * first: its tasks are stopped and placed elsewhere), and edit its labels (add or change one,
 * remove one). Progress is the node's tasks as the cluster reports them: how many are still on
 * the node, replacements waiting (and why) or running on other nodes.
 */
export function nodeActions(nodeId: string): ActionPanel {
  const client = actionClient();
  const feedback = new Feedback();
  let node: Node | undefined;
  let shownLabels = '';
  const buttons = AVAILABILITY.map(([availability, label]) => {
    const b = h('button', { type: 'button', 'data-action': availability, 'aria-pressed': 'false' }, label);
    b.addEventListener('click', () => void setAvailability(availability));
    return b;
  });
  const key = h('input', { type: 'text', name: 'key', required: true, spellcheck: 'false', 'aria-label': 'label key', placeholder: 'key', 'data-test': 'label-key' });
  const value = h('input', { type: 'text', name: 'value', spellcheck: 'false', 'aria-label': 'label value', placeholder: 'value', 'data-test': 'label-value' });
  const add = h('button', { type: 'submit', 'data-action': 'label-add' }, 'Set label');
  const labels = h('ul', { class: 'labels', 'data-test': 'labels' });
  const progress = h('p', { class: 'progress', 'data-test': 'node-progress', role: 'status', 'aria-live': 'polite' });
  const controls = (): HTMLButtonElement[] => [...buttons, add, ...labels.querySelectorAll('button')];

  const setAvailability = async (availability: NodeAvailability): Promise<void> => {
    const name = node?.description.hostname ?? nodeId;
    if (availability === 'drain') {
      const yes = await confirmAction(`Drain node ${name}?`, 'Its tasks are stopped and placed on other nodes; where no other node fits, they wait. No new task is placed here until it is activated again.', 'Drain');
      if (!yes) return;
    }
    await runAction(controls(), feedback, `Setting ${name} to ${availability}`, () => client.updateNode(nodeId, { availability }));
  };

  const labelForm = h(
    'form',
    {
      class: 'inline',
      'data-form': 'labels',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const k = key.value.trim();
        void runAction(controls(), feedback, `Setting label ${k}`, () => client.updateNode(nodeId, { labelsAdd: { [k]: value.value } })).then((done) => {
          if (done === undefined) return;
          key.value = '';
          value.value = '';
          key.focus();
        });
      },
    },
    h('label', {}, 'Label ', key),
    h('label', {}, '= ', value),
    add,
  );

  const element = h(
    'section',
    { class: 'actions', 'data-test': 'node-actions', 'data-node': nodeId, 'aria-label': 'node actions' },
    h('div', { class: 'action-row', role: 'group', 'aria-label': 'availability' }, h('span', { class: 'muted' }, 'Availability'), ...buttons),
    progress,
    h('h4', {}, 'Labels'),
    labels,
    labelForm,
    feedback.element,
  );

  return {
    element,
    update(state: ClusterState) {
      node = state.nodes.get(nodeId);
      element.classList.toggle('gone', node === undefined);
      if (!node) {
        progress.textContent = 'This node is no longer in the cluster.';
        return;
      }
      const current = node.spec.availability;
      for (const [i, [availability]] of AVAILABILITY.entries()) buttons[i]?.setAttribute('aria-pressed', String(current === availability));
      const p = describeNodeProgress(nodeProgress(node, [...new Set(state.tasksOn(node.id).map((t) => t.serviceId))].flatMap((id) => state.tasksOf(id))));
      progress.textContent = p.text;
      progress.dataset['availability'] = current;
      progress.dataset['settled'] = String(p.settled);
      const entries = Object.entries(node.spec.labels).sort(([a], [b]) => a.localeCompare(b));
      // Redrawn only when they changed: a button must not be replaced under a click.
      const shown = JSON.stringify(entries);
      if (shown === shownLabels) return;
      shownLabels = shown;
      const focused = document.activeElement instanceof HTMLElement && labels.contains(document.activeElement) ? document.activeElement.dataset['label'] : undefined;
      replace(
        labels,
        ...(entries.length === 0
          ? [h('li', { class: 'muted' }, 'none')]
          : entries.map(([k, v]) =>
              h(
                'li',
                { 'data-label': k },
                h('code', {}, v === '' ? k : `${k}=${v}`),
                h('button', { type: 'button', class: 'small', 'data-label': k, 'aria-label': `remove label ${k}`, onclick: () => void runAction(controls(), feedback, `Removing label ${k}`, () => client.updateNode(nodeId, { labelsRemove: [k] })) }, 'Remove'),
              ),
            )),
      );
      // Redrawing the list must not lose the keyboard's place.
      if (focused !== undefined) labels.querySelector<HTMLButtonElement>(`button[data-label="${CSS.escape(focused)}"]`)?.focus();
    },
  };
}
