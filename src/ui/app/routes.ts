/** A page of the dashboard, as its path names it. */
export type Route =
  | { readonly page: 'overview' }
  | { readonly page: 'services' }
  | { readonly page: 'service'; readonly name: string }
  | { readonly page: 'nodes' }
  | { readonly page: 'node'; readonly ref: string }
  | { readonly page: 'stacks' }
  | { readonly page: 'stack'; readonly name: string }
  | { readonly page: 'secrets' }
  | { readonly page: 'not-found'; readonly path: string };

/** The nav's sections: path and label (the route of each page belongs to one). */
export const SECTIONS = [
  { path: '/ui/', label: 'Overview', pages: ['overview'] },
  { path: '/ui/services', label: 'Services', pages: ['services', 'service'] },
  { path: '/ui/nodes', label: 'Nodes', pages: ['nodes', 'node'] },
  { path: '/ui/stacks', label: 'Stacks', pages: ['stacks', 'stack'] },
  { path: '/ui/secrets', label: 'Secrets & configs', pages: ['secrets'] },
] as const satisfies ReadonlyArray<{ path: string; label: string; pages: ReadonlyArray<Route['page']> }>;

/** The route of a path under `/ui/` (pure: the router and its test use it). */
export function routeOf(path: string): Route {
  const p = path.replace(/\/+$/, '') || '/';
  if (p === '/ui' || p === '/') return { page: 'overview' };
  const m = /^\/ui\/(services|nodes|stacks)(?:\/([^/]+))?$/.exec(p);
  if (m) {
    const one = m[2] === undefined ? undefined : safeDecode(m[2]);
    if (m[1] === 'services') return one === undefined ? { page: 'services' } : { page: 'service', name: one };
    if (m[1] === 'nodes') return one === undefined ? { page: 'nodes' } : { page: 'node', ref: one };
    return one === undefined ? { page: 'stacks' } : { page: 'stack', name: one };
  }
  if (p === '/ui/secrets' || p === '/ui/configs') return { page: 'secrets' };
  return { page: 'not-found', path };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
