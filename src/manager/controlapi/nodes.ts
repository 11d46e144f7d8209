import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { withRemovedNode } from '../../api/cluster.ts';
import { ApiError } from '../../api/errors.ts';
import { NoContent } from '../../api/meta.ts';
import { Node, NodeList, NodeRef, NodeRemoveQuery, NodeUpdate } from '../../api/node.ts';
import type { RouteContext } from './context.ts';
import { errorResponses, translateStoreErrors } from './errors.ts';
import { resolveNode } from './lookup.ts';

/** Applies a `NodeUpdate` to a node's spec; pure. */
export function applyNodeUpdate(spec: Node['spec'], update: NodeUpdate): Node['spec'] {
  const labels = { ...spec.labels, ...update.labelsAdd };
  for (const k of update.labelsRemove ?? []) delete labels[k];
  return {
    role: update.role ?? spec.role,
    availability: update.availability ?? spec.availability,
    labels,
  };
}

/** `GET /v1/nodes`, `GET /v1/nodes/:idOrHostname`, `PATCH /v1/nodes/:idOrHostname`, `DELETE /v1/nodes/:idOrHostname`. */
export function registerNodeRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;

  app.get('/v1/nodes', {
    schema: { summary: 'List nodes', tags: ['nodes'], response: { 200: NodeList } },
    handler: async () => store.nodes.all(),
  });

  app.get<{ Params: NodeRef }>('/v1/nodes/:idOrHostname', {
    schema: { summary: 'Inspect a node', tags: ['nodes'], params: NodeRef, response: { 200: Node, ...errorResponses('not_found') } },
    handler: async (req) => resolveNode(store.nodes, req.params.idOrHostname),
  });

  app.patch<{ Params: NodeRef; Body: NodeUpdate }>('/v1/nodes/:idOrHostname', {
    schema: {
      summary: 'Update a node (availability, role, labels)',
      tags: ['nodes'],
      params: NodeRef,
      body: NodeUpdate,
      description: 'Demoting the last manager node is refused (412), as Swarm refuses it.',
      response: { 200: Node, ...errorResponses('invalid_argument', 'not_found', 'conflict', 'failed_precondition') },
    },
    handler: async (req) => {
      const current = resolveNode(store.nodes, req.params.idOrHostname);
      const update = req.body;
      const name = current.description.hostname;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const n = tx.nodes.get(current.id);
            if (!n) throw new ApiError('not_found', `node ${req.params.idOrHostname} not found`);
            if (update.version !== undefined && update.version !== n.version) {
              throw new ApiError('conflict', `node ${name} changed since version ${update.version} (it is at version ${n.version}): read it again and retry`);
            }
            const spec = applyNodeUpdate(n.spec, update);
            if (isDeepStrictEqual(spec, n.spec)) return;
            // Checked in the transaction: two demotes racing cannot leave no manager.
            if (n.spec.role === 'manager' && spec.role === 'worker' && tx.nodes.all().filter((x) => x.spec.role === 'manager').length <= 1) {
              throw new ApiError('failed_precondition', `node ${name} is the last manager of the cluster: promote another node first (flotilla node promote NODE)`);
            }
            tx.nodes.update({ ...n, spec });
          }),
        { conflict: `node ${name} changed while it was being updated: retry` },
      );
      return store.nodes.get(current.id);
    },
  });

  app.delete<{ Params: NodeRef; Querystring: NodeRemoveQuery }>('/v1/nodes/:idOrHostname', {
    schema: {
      summary: 'Remove a node from the cluster and revoke its certificate',
      description: 'A ready node is refused (412) unless `force=true`. Its tasks are replaced on other nodes.',
      tags: ['nodes'],
      params: NodeRef,
      querystring: NodeRemoveQuery,
      response: { 204: NoContent, ...errorResponses('not_found', 'failed_precondition') },
    },
    handler: async (req, reply) => {
      const current = resolveNode(store.nodes, req.params.idOrHostname);
      const name = current.description.hostname || current.id;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const n = tx.nodes.get(current.id);
            if (!n) throw new ApiError('not_found', `node ${req.params.idOrHostname} not found`);
            if (n.status.state === 'ready' && req.query.force !== true) {
              throw new ApiError('failed_precondition', `node ${name} is ready: stop its agent (or wait until it is down) first, or remove it anyway with --force`);
            }
            tx.nodes.delete(n.id);
            // Revoked in the same commit: the node's certificate is refused from now on.
            const clusters = tx.table('cluster');
            for (const c of clusters.all()) {
              const revoked = withRemovedNode(c, n.id);
              if (revoked !== c) clusters.update(revoked);
            }
          }),
        { conflict: `node ${name} changed while it was being removed: retry` },
      );
      return reply.code(204).send();
    },
  });
}
