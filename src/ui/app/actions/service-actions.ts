import type { Service } from '../../../api/service.ts';
import type { ClusterState } from '../cluster-state.ts';
import { h } from '../dom.ts';
import { actionClient } from './client.ts';
import { confirmAction } from './confirm.ts';
import { Feedback, runAction } from './feedback.ts';
import type { ActionPanel } from './panel.ts';
import { operationProgress, slotProgress, type ServiceOperation } from './progress.ts';
import { drawSlots } from './slot-grid.ts';

/**
 * A service's actions, for the service's page: scale, change the image (a rolling update),
 * roll back, force a restart (every task replaced), remove (after a confirmation). Each goes
 * through the REST API; what follows is shown as the cluster reports it — a line following the
 * last action, and a box per slot (its task's state, and whether it runs the current spec).
 */
export function serviceActions(name: string): ActionPanel {
  const client = actionClient();
  const feedback = new Feedback();
  const replicas = h('input', { type: 'number', min: 0, step: 1, name: 'replicas', required: true, 'aria-label': 'replicas', 'data-test': 'replicas-input' });
  const scaleButton = h('button', { type: 'submit', 'data-action': 'scale' }, 'Scale');
  const image = h('input', { type: 'text', name: 'image', required: true, spellcheck: 'false', 'aria-label': 'image', 'data-test': 'image-input' });
  const imageButton = h('button', { type: 'submit', 'data-action': 'image' }, 'Update image');
  const rollback = h('button', { type: 'button', 'data-action': 'rollback' }, 'Roll back');
  const restart = h('button', { type: 'button', 'data-action': 'restart' }, 'Force restart');
  const remove = h('button', { type: 'button', class: 'danger', 'data-action': 'remove' }, 'Remove…');
  const progress = h('p', { class: 'progress', 'data-test': 'progress', role: 'status', 'aria-live': 'polite', hidden: true });
  const slots = h('div', { class: 'slots', 'data-test': 'slots', 'aria-label': 'slots' });
  const all = [replicas, scaleButton, image, imageButton, rollback, restart, remove];

  let service: Service | undefined;
  let last: ClusterState | undefined;
  let op: ServiceOperation | undefined;
  const dirty = { replicas: false, image: false };
  replicas.addEventListener('input', () => (dirty.replicas = true));
  image.addEventListener('input', () => (dirty.image = true));

  const follow = (next: ServiceOperation | undefined): void => {
    op = next;
    if (last) panel.update(last);
  };

  /** Writes a change of what tasks run, read fresh so the version is current (a stale one is a 409). */
  const changeSpec = async (what: string, change: (s: Service['spec']) => Service['spec']): Promise<boolean> => {
    const fresh = await client.getService(name);
    const updated = await client.updateService(name, fresh.version, change(structuredClone(fresh.spec)));
    const changed = updated.specVersion !== fresh.specVersion;
    follow(changed ? { kind: 'update', what, fromVersion: fresh.specVersion } : undefined);
    return changed;
  };
  const unchanged = (changed: boolean | undefined): void => {
    if (changed === false) feedback.note('Nothing to roll out: the tasks already run this spec.');
  };

  const scaleForm = h(
    'form',
    {
      class: 'inline',
      'data-form': 'scale',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const n = Number(replicas.value);
        void runAction(all, feedback, `Scaling ${name} to ${n}`, async () => {
          await client.scaleService(name, n);
          dirty.replicas = false;
          follow({ kind: 'scale', replicas: n });
        });
      },
    },
    h('label', {}, 'Replicas ', replicas),
    scaleButton,
  );
  const imageForm = h(
    'form',
    {
      class: 'inline',
      'data-form': 'image',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        const ref = image.value.trim();
        void runAction(all, feedback, `Updating ${name} to ${ref}`, async () => {
          const changed = await changeSpec(`image ${ref}`, (s) => ({ ...s, taskTemplate: { ...s.taskTemplate, container: { ...s.taskTemplate.container, image: ref } } }));
          dirty.image = false;
          return changed;
        }).then(unchanged);
      },
    },
    h('label', {}, 'Image ', image),
    imageButton,
  );
  rollback.addEventListener('click', () => {
    void runAction(all, feedback, `Rolling ${name} back`, async () => {
      const fresh = await client.getService(name);
      await client.rollbackService(name);
      follow({ kind: 'rollback', fromVersion: fresh.specVersion });
    });
  });
  restart.addEventListener('click', () => {
    void runAction(all, feedback, `Restarting every task of ${name}`, () =>
      changeSpec('forced restart', (s) => ({ ...s, taskTemplate: { ...s.taskTemplate, forceUpdate: s.taskTemplate.forceUpdate + 1 } })),
    ).then(unchanged);
  });
  remove.addEventListener('click', () => {
    void confirmAction(`Remove service ${name}?`, 'Every task of the service is stopped and the service is deleted. This cannot be undone.', 'Remove').then((yes) => {
      if (!yes) {
        remove.focus();
        return;
      }
      const id = service?.id ?? '';
      void runAction(all, feedback, `Removing ${name}`, async () => {
        await client.removeService(name);
        follow({ kind: 'remove', serviceId: id });
      });
    });
  });

  const element = h(
    'section',
    { class: 'actions', 'data-test': 'service-actions', 'aria-label': `actions on ${name}` },
    h('div', { class: 'action-row' }, scaleForm, imageForm, rollback, restart, remove),
    feedback.element,
    progress,
    slots,
  );

  const panel: ActionPanel = {
    element,
    update(state: ClusterState) {
      last = state;
      service = [...state.services.values()].find((s) => s.spec.name === name);
      const id = service?.id ?? (op?.kind === 'remove' ? op.serviceId : undefined);
      const tasks = id === undefined ? [] : state.tasksOf(id);
      if (service) {
        const replicated = service.spec.mode === 'replicated';
        scaleForm.hidden = !replicated;
        if (!dirty.replicas && document.activeElement !== replicas) replicas.value = String(service.spec.replicas);
        const current = service.spec.taskTemplate.container.image;
        imageForm.hidden = current === undefined;
        if (!dirty.image && document.activeElement !== image) image.value = current ?? '';
        rollback.hidden = service.previousSpec === undefined;
        drawSlots(slots, slotProgress(service, tasks));
      } else {
        drawSlots(slots, []);
      }
      element.classList.toggle('gone', service === undefined);
      if (op === undefined) {
        progress.hidden = true;
        return;
      }
      const p = operationProgress(op, service, tasks);
      progress.hidden = false;
      progress.textContent = p.text;
      progress.dataset['outcome'] = p.outcome;
      progress.className = `progress ${p.outcome}`;
    },
  };
  return panel;
}
