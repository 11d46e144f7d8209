import { ClientError } from './errors.ts';

/** The cluster CA to trust and, for the admin credential, a client certificate and key (PEM). */
export interface TlsMaterial {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/**
 * Where the manager's API is: a unix socket, or an `http://` or `https://host:port` base URL.
 * An https target trusts `tls.ca` only (the cluster CA) and authenticates with the client
 * certificate in `tls` or the bearer `token`. `alternates` are the other managers of the
 * cluster (base URLs, same credential): the client goes on to the next one when a manager
 * cannot be reached (`client.ts`, `isConnectFailure`).
 */
export type Target =
  | { readonly socketPath: string }
  | { readonly url: string; readonly tls?: TlsMaterial; readonly token?: string; readonly alternates?: readonly string[] };

/** Every base URL of a target, the preferred first (none for a unix socket). */
export function targetUrls(t: Target): string[] {
  return 'url' in t ? [...new Set([t.url, ...(t.alternates ?? [])])] : [];
}

/**
 * Reads `unix:///path/to/sock`, `http://host:port` or a bare socket path into a `Target`
 * (the forms `--host` and `FLOTILLA_HOST` take). Throws a `ClientError` for anything else.
 */
export function parseHost(host: string): Target {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  if (/^https?:\/\//.test(host)) return { url: host.replace(/\/+$/, '') };
  if (/^tcp:\/\//.test(host)) return { url: `http://${host.slice('tcp://'.length).replace(/\/+$/, '')}` };
  throw new ClientError('invalid_argument', `bad host "${host}": expected unix:///path/to/flotilla.sock, http://host:port or https://host:port`);
}

/** The target as users write it, for messages. */
export function describeTarget(t: Target): string {
  return 'socketPath' in t ? t.socketPath : t.url;
}
