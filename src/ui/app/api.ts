import { FlotillaClient } from '../../client/client.ts';
import { fetchTransport } from '../../client/fetch-transport.ts';
import type { Transport } from '../../client/wire.ts';

/** The header the dashboard's gate requires on every API and sign-in request (its CSRF guard). */
const DASHBOARD_HEADER = 'x-flotilla-dashboard';

/**
 * The typed client, reaching the control API through the gate at `/ui/api` with the fetch
 * transport plus the dashboard header (the session cookie goes by itself: same origin).
 * `onEventsOpen` is called when an event stream's response arrives: the manager watches from
 * then on (what `ClusterState` waits for before reading the lists).
 */
export function dashboardClient(onEventsOpen: () => void = () => {}): FlotillaClient {
  const transport: Transport = {
    async send(target, req) {
      const res = await fetchTransport.send(target, { ...req, headers: { ...req.headers, [DASHBOARD_HEADER]: '1' } });
      if (req.path.startsWith('/v1/events')) onEventsOpen();
      return res;
    },
  };
  return new FlotillaClient({ url: `${location.origin}/ui/api` }, { transport });
}

/** Whether this browser is signed in, and how one signs in here (`link` in dev, `token` on a server). */
export async function sessionState(): Promise<{ signedIn: boolean; signIn: 'link' | 'token' }> {
  const res = await fetch('/ui/session', { headers: { accept: 'application/json' } });
  return (await res.json()) as { signedIn: boolean; signIn: 'link' | 'token' };
}

/** Signs in with a login link's nonce or the admin token; resolves with the error message on refusal. */
export async function signIn(body: { nonce: string } | { token: string }): Promise<string | undefined> {
  const res = await fetch('/ui/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json', [DASHBOARD_HEADER]: '1' },
    body: JSON.stringify(body),
  });
  if (res.ok) return undefined;
  const err = (await res.json().catch(() => ({}))) as { error?: { message?: string } };
  return err.error?.message ?? `sign-in failed (HTTP ${res.status})`;
}
