import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { CaResponse, JoinRequest, JoinResponse, RenewRequest, RenewResponse, TokenRole, TokensResponse } from '../../api/join.ts';
import { isTlsRequest, peerIdentity } from './auth.ts';
import type { ClusterAuthority, RouteContext } from './context.ts';
import { errorResponses } from './errors.ts';

/**
 * Joining and the cluster's credentials: `GET /v1/ca` and `POST /v1/join` (open),
 * `POST /v1/renew` (a node's own certificate, over TLS), `GET /v1/tokens` and
 * `POST /v1/tokens/:role/rotate` (admin). The work is the CA's (`deps.authority`).
 */
export function registerJoinRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const authority = (): ClusterAuthority => {
    const a = ctx.deps.authority;
    if (!a) throw new ApiError('unavailable', 'this manager has no cluster CA: start it with `flotilla server` to join nodes');
    return a;
  };

  app.get('/v1/ca', {
    schema: { summary: 'The cluster root CA certificate (public)', tags: ['cluster'], response: { 200: CaResponse, ...errorResponses('unavailable') } },
    handler: async (): Promise<CaResponse> => ({ certificate: authority().caCertificate }),
  });

  app.post<{ Body: JoinRequest }>('/v1/join', {
    schema: {
      summary: 'Join the cluster: a join token and a CSR in, the node id and certificate out',
      tags: ['cluster'],
      body: JoinRequest,
      response: { 200: JoinResponse, ...errorResponses('invalid_argument', 'unauthenticated', 'unavailable') },
    },
    handler: async (req): Promise<JoinResponse> => authority().join(req.body, req.socket.remoteAddress ?? 'local'),
  });

  app.post<{ Body: RenewRequest }>('/v1/renew', {
    schema: {
      summary: "Renew this node's certificate (authenticated by its current one)",
      tags: ['cluster'],
      body: RenewRequest,
      response: { 200: RenewResponse, ...errorResponses('invalid_argument', 'unauthenticated', 'unavailable') },
    },
    handler: async (req): Promise<RenewResponse> => {
      const a = authority();
      if (!isTlsRequest(req)) throw new ApiError('unauthenticated', "renewing needs the node's client certificate, over the manager's HTTPS port");
      const who = peerIdentity(req, a);
      if (who.kind !== 'node') {
        const why = who.kind === 'none' ? who.reason : `the ${who.kind === 'admin' ? 'admin' : 'manager peer'} certificate is not a node certificate`;
        throw new ApiError('unauthenticated', `renewing needs this node's current certificate: ${why}`);
      }
      return a.renew(who.nodeId, req.body.csr);
    },
  });

  app.get('/v1/tokens', {
    schema: { summary: 'The worker and manager join tokens', tags: ['cluster'], response: { 200: TokensResponse, ...errorResponses('unauthenticated', 'unavailable') } },
    handler: async (): Promise<TokensResponse> => authority().joinTokens(),
  });

  app.post<{ Params: TokenRole }>('/v1/tokens/:role/rotate', {
    schema: {
      summary: 'Replace a join token (nodes already joined are not affected)',
      tags: ['cluster'],
      params: TokenRole,
      response: { 200: TokensResponse, ...errorResponses('invalid_argument', 'unauthenticated', 'unavailable') },
    },
    handler: async (req): Promise<TokensResponse> => authority().rotateToken(req.params.role),
  });
}
