import { signIn } from '../api.ts';
import { h } from '../dom.ts';

/**
 * The sign-in page: on a server, a form for the admin token (sent once in a POST body, then
 * only the session cookie is used); in dev, where to find the login link.
 */
export function signInView(how: 'link' | 'token', problem: string | undefined, done: () => void): HTMLElement {
  const message = h('p', { class: 'problem', 'data-test': 'problem', hidden: problem === undefined }, problem ?? '');
  if (how === 'link') {
    return h(
      'section',
      { class: 'sign-in' },
      h('h2', {}, 'Sign in'),
      message,
      h('p', {}, 'Open the login link that ', h('code', {}, 'flotilla dev'), ' printed when it started. Each link signs in one browser once; restart ', h('code', {}, 'flotilla dev'), ' for a new one.'),
    );
  }
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', required: true, 'aria-label': 'admin token' });
  const form = h(
    'form',
    {
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void signIn({ token: input.value }).then((err) => {
          input.value = '';
          if (err === undefined) done();
          else {
            message.textContent = err;
            message.hidden = false;
          }
        });
      },
    },
    h('label', {}, 'Admin token ', input),
    h('button', { type: 'submit' }, 'Sign in'),
  );
  return h('section', { class: 'sign-in' }, h('h2', {}, 'Sign in'), message, h('p', {}, 'The admin token is in ', h('code', {}, 'admin/token'), ' of the manager’s data directory.'), form);
}
