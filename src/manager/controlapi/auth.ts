import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { PeerIdentity } from '../../api/cluster.ts';
import { ApiError } from '../../api/errors.ts';
import type { ClusterAuthority, RouteContext } from './context.ts';

/** The one message every refused admin request gets. */
export const ADMIN_CREDENTIAL_NEEDED = 'this API needs the admin credential: a client certificate or a bearer token (see `flotilla context`)';

/** Routes anyone may call over TLS: what a node needs before it has a certificate. */
const OPEN_ROUTES = new Set(['GET /v1/ca', 'POST /v1/join']);
/** Routes for nodes, authenticated by their own certificate (checked by the route). */
const NODE_ROUTES = new Set(['POST /v1/renew']);

/** Whether a request came over one of the HTTPS listeners (the unix socket and plain HTTP are trusted). */
export function isTlsRequest(req: FastifyRequest): boolean {
  return req.raw.socket instanceof TLSSocket;
}

/** Who is on the other end of a TLS request: its client certificate, judged by the CA. */
export function peerIdentity(req: FastifyRequest, authority: ClusterAuthority): PeerIdentity {
  return identifySocket(req.raw.socket, authority);
}

/** The same for any socket (the agent session upgrade uses it too). */
export function identifySocket(socket: Socket, authority: Pick<ClusterAuthority, 'identify'>): PeerIdentity {
  if (!(socket instanceof TLSSocket)) return { kind: 'none', reason: 'not a TLS connection' };
  return authority.identify(socket.getPeerX509Certificate());
}

/**
 * Authorization of the HTTPS listeners, one hook for every route: `GET /v1/ca` and
 * `POST /v1/join` are open; `POST /v1/renew` is left to its route (a node certificate);
 * the routes that need the leader (`config.leader`: logs, builds) also take another manager's
 * peer certificate (OU=peer: a request it forwards to the leader, `leader-forward.ts`);
 * everything else needs the admin client certificate (OU=admin) or `Authorization: Bearer
 * <admin token>`, else 401 `unauthenticated`. Requests over the unix socket (file permissions
 * are its access control) and plain HTTP listeners pass untouched.
 */
export function registerAuth(app: FastifyInstance, ctx: RouteContext): void {
  app.addHook('onRequest', async (req) => {
    if (!isTlsRequest(req)) return;
    const route = `${req.method} ${req.routeOptions.url ?? ''}`;
    if (OPEN_ROUTES.has(route) || NODE_ROUTES.has(route)) return;
    const authority = ctx.deps.authority;
    if (!authority) throw new ApiError('unavailable', 'this manager has no cluster CA, so it cannot check credentials');
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (m?.[1] !== undefined && authority.isAdminToken(m[1])) return;
      throw new ApiError('unauthenticated', ADMIN_CREDENTIAL_NEEDED, { details: [{ path: 'authorization', message: 'not the admin bearer token' }] });
    }
    const who = peerIdentity(req, authority);
    if (who.kind === 'admin') return;
    if (who.kind === 'peer' && req.routeOptions.config.leader) return;
    const why =
      who.kind === 'none' ? who.reason : who.kind === 'peer' ? 'a manager peer certificate is taken only for the requests it forwards to the leader' : `a ${who.role} node certificate is not the admin credential`;
    throw new ApiError('unauthenticated', ADMIN_CREDENTIAL_NEEDED, { details: [{ path: 'certificate', message: why }] });
  });
}
