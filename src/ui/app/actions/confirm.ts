import { h } from '../dom.ts';

/**
 * Asks before a destructive action (remove, drain) in a modal `<dialog>`: the keyboard works as
 * everywhere (Tab between the buttons, Enter on the focused one, Escape cancels), and Cancel has
 * the focus, so a stray Enter destroys nothing. Resolves true only when `yes` was chosen.
 */
export function confirmAction(question: string, detail: string, yes: string): Promise<boolean> {
  const cancel = h('button', { type: 'submit', value: 'cancel', 'data-test': 'confirm-cancel' }, 'Cancel');
  const ok = h('button', { type: 'submit', value: 'yes', class: 'danger', 'data-test': 'confirm-yes' }, yes);
  const dialog = h(
    'dialog',
    { class: 'confirm', 'data-test': 'confirm', 'aria-labelledby': 'confirm-question' },
    h('form', { method: 'dialog' }, h('h3', { id: 'confirm-question' }, question), h('p', {}, detail), h('div', { class: 'buttons' }, cancel, ok)),
  );
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      resolve(dialog.returnValue === 'yes');
      dialog.remove();
    });
    dialog.showModal();
    cancel.focus();
  });
}
