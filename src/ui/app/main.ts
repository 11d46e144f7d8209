import { isClientError } from '../../client/errors.ts';
import { actionPage } from './actions/pages.ts';
import { dashboardClient, sessionState, signIn } from './api.ts';
import { ClusterState } from './cluster-state.ts';
import { h, link, replace } from './dom.ts';
import { overviewView } from './views/overview.ts';
import { serviceView } from './views/service.ts';
import { servicesView } from './views/services.ts';
import { signInView } from './views/sign-in.ts';
import type { View } from './views/view.ts';

const root = document.getElementById('app') as HTMLElement;
/** What in-app navigation re-renders (set while the app runs). */
let onNavigate: (() => void) | undefined;

document.addEventListener('click', (ev) => {
  const a = (ev.target as Element).closest('a[data-nav]');
  if (!a || !onNavigate || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey) return;
  ev.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  onNavigate();
});
window.addEventListener('popstate', () => onNavigate?.());

/** The view for a path under `/ui/`. */
function viewFor(path: string): View {
  const page = actionPage(path, location.search);
  if (page) return page;
  const m = /^\/ui\/services\/([^/]+)\/?$/.exec(path);
  if (m?.[1] !== undefined) return serviceView(decodeURIComponent(m[1]));
  if (/^\/ui\/services\/?$/.test(path)) return servicesView();
  return overviewView();
}

/** Signed in: the header, the current view, kept live by the cluster state. */
function runApp(): void {
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const state = new ClusterState(dashboardClient(() => opened()), open);
  const status = h('span', { class: 'status', 'data-test': 'status' }, 'loading');
  const main = h('main');
  const nav = h('nav', {}, h('strong', {}, 'Flotilla'), link('/ui/', 'Overview'), link('/ui/services', 'Services'), link('/ui/nodes', 'Nodes'), link('/ui/stacks/deploy', 'Deploy stack'), status);
  replace(root, h('header', {}, nav), main);
  let view = viewFor(location.pathname);
  const show = (): void => {
    view = viewFor(location.pathname);
    document.title = `${view.title} · Flotilla`;
    replace(main, view.element);
    view.update(state);
  };
  onNavigate = show;
  state.subscribe(() => {
    if (state.status === 'stale') location.reload();
    if (state.status === 'signed-out') {
      state.stop();
      onNavigate = undefined;
      void boot('Your session ended: sign in again.');
      return;
    }
    status.textContent = state.status;
    status.className = `status ${state.status}`;
    view.update(state);
  });
  show();
  state.start().catch((err: unknown) => {
    if (isClientError(err) && err.code === 'unauthenticated') {
      state.stop();
      onNavigate = undefined;
      void boot('Your session ended: sign in again.');
      return;
    }
    replace(main, h('p', { class: 'problem' }, `Cannot read the cluster: ${(err as Error).message}`));
  });
}

/** Redeems a login link (its nonce is in the fragment), then shows the app or the sign-in page. */
async function boot(problem?: string): Promise<void> {
  let why = problem;
  if (location.pathname === '/ui/login') {
    const nonce = location.hash.slice(1);
    // The link is spent either way: take it out of the address bar and history.
    history.replaceState(null, '', '/ui/');
    if (nonce !== '') why = await signIn({ nonce });
  }
  const session = await sessionState();
  if (session.signedIn) runApp();
  else replace(root, signInView(session.signIn, why, () => void boot()));
}

void boot();
