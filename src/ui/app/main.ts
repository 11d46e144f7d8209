import { isClientError } from '../../client/errors.ts';
import { actionPage } from './actions/pages.ts';
import { dashboardClient, sessionState, signIn } from './api.ts';
import { Catalog } from './catalog.ts';
import { ClusterState } from './cluster-state.ts';
import { h, link, replace } from './dom.ts';
import { routeOf, SECTIONS, type Route } from './routes.ts';
import { nodeView } from './views/node.ts';
import { nodesView } from './views/nodes.ts';
import { overviewView } from './views/overview.ts';
import { secretsView } from './views/secrets.ts';
import { serviceView } from './views/service.ts';
import { servicesView } from './views/services.ts';
import { signInView } from './views/sign-in.ts';
import { stackView } from './views/stack.ts';
import { stacksView } from './views/stacks.ts';
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

/** The view of a route. */
function viewFor(route: Route, catalog: Catalog): View {
  switch (route.page) {
    case 'overview':
      return overviewView();
    case 'services':
      return servicesView();
    case 'service':
      return serviceView(route.name);
    case 'nodes':
      return nodesView();
    case 'node':
      return nodeView(route.ref);
    case 'stacks':
      return stacksView(catalog);
    case 'stack':
      return stackView(route.name, catalog);
    case 'secrets':
      return secretsView(catalog);
    case 'not-found':
      return { title: 'Not found', element: h('section', {}, h('h2', {}, 'Not found'), h('p', {}, `Nothing here at ${route.path}. `, link('/ui/', 'Back to the overview'))), update: () => {} };
  }
}

/** Signed in: the header, the current view, kept live by the cluster state. */
function runApp(): void {
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const state = new ClusterState(dashboardClient(() => opened()), open);
  let catalogOpened!: () => void;
  const catalogOpen = new Promise<void>((r) => (catalogOpened = r));
  const catalog = new Catalog(dashboardClient(() => catalogOpened()), catalogOpen);
  const status = h('span', { class: 'status', 'data-test': 'status', role: 'status' }, 'loading');
  const main = h('main', { tabindex: -1 });
  const sections = SECTIONS.map((s) => ({ ...s, a: link(s.path, s.label) }));
  const deploy = link('/ui/stacks/deploy', 'Deploy stack');
  const nav = h('nav', { 'aria-label': 'sections' }, h('strong', {}, 'Flotilla'), ...sections.map((s) => s.a), deploy, status);
  replace(root, h('header', {}, nav), main);
  let view: View | undefined;
  const show = (): void => {
    view?.dispose?.();
    // The stack editor first: `/ui/stacks/deploy` is not a stack named "deploy".
    const page = actionPage(location.pathname, location.search);
    const route = routeOf(location.pathname);
    view = page ?? viewFor(route, catalog);
    for (const s of sections) {
      if (!page && (s.pages as readonly string[]).includes(route.page)) s.a.setAttribute('aria-current', 'page');
      else s.a.removeAttribute('aria-current');
    }
    if (page) deploy.setAttribute('aria-current', 'page');
    else deploy.removeAttribute('aria-current');
    document.title = `${view.title} · Flotilla`;
    replace(main, view.element);
    view.update(state);
  };
  onNavigate = () => {
    show();
    // Keyboard users continue from the new page's content, not from the link they left.
    main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  };
  catalog.subscribe(() => view?.update(state));
  state.subscribe(() => {
    if (state.status === 'stale') location.reload();
    if (state.status === 'signed-out') {
      state.stop();
      catalog.stop();
      view?.dispose?.();
      onNavigate = undefined;
      void boot('Your session ended: sign in again.');
      return;
    }
    status.textContent = state.status;
    status.className = `status ${state.status}`;
    view?.update(state);
  });
  show();
  void catalog.start();
  state.start().catch((err: unknown) => {
    if (isClientError(err) && err.code === 'unauthenticated') {
      state.stop();
      catalog.stop();
      view?.dispose?.();
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
