import { h } from '../dom.ts';
import type { View } from '../views/view.ts';
import { stackDeployForm } from './stack-deploy.ts';

/**
 * The page the actions add to the app's views: the stack editor (`/ui/stacks/deploy`,
 * `?stack=NAME` to edit a deployed one). Undefined for any other path. The router asks it
 * before `routeOf`, so the editor is not taken for a stack named "deploy". (The nodes and node
 * views embed `nodeActions(id)`, the service view `serviceActions(name)`.)
 */
export function actionPage(path: string, search = ''): View | undefined {
  if (/^\/ui\/stacks\/deploy\/?$/.test(path)) {
    const existing = new URLSearchParams(search).get('stack') ?? undefined;
    const panel = stackDeployForm(existing);
    const intro = h('p', { class: 'muted' }, 'Paste a compose file. Check shows what a deploy would change; Deploy deploys it. A file with problems deploys nothing.');
    return { title: existing ? `Update stack ${existing}` : 'Deploy a stack', element: h('section', {}, h('h2', {}, existing ? `Update stack ${existing}` : 'Deploy a stack'), intro, panel.element), update: (s) => panel.update(s) };
  }
  return undefined;
}
