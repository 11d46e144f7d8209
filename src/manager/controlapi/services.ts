import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { NoContent } from '../../api/meta.ts';
import { Service, ServiceSpec } from '../../api/service.ts';
import { ScaleBody, ServiceFilter, ServiceList, ServiceRef, ServiceUpdateBody, matchesServiceFilter } from '../../api/service-requests.ts';
import { rolledBack, withUpdatedSpec } from '../../api/service-rollout.ts';
import { validateServiceSpec } from '../../api/validate.ts';
import { newId } from '../../lib/ids.ts';
import type { RouteContext } from './context.ts';
import { errorResponses, translateStoreErrors } from './errors.ts';
import { checkFileReferences } from './file-objects.ts';
import { resolveService } from './lookup.ts';
import { checkPortClash, checkServiceNetworks } from './network-refs.ts';

function checkVersion(service: Service, version: number | undefined): void {
  if (version !== undefined && version !== service.version) {
    throw new ApiError(
      'conflict',
      `service ${service.spec.name} changed since version ${version} (it is at version ${service.version}): read it again and retry`,
    );
  }
}

/** `GET/POST /v1/services`, `GET/PUT/DELETE /v1/services/:idOrName`, `POST …/scale`, `POST …/rollback`. */
export function registerServiceRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;

  app.get<{ Querystring: ServiceFilter }>('/v1/services', {
    schema: {
      summary: 'List services',
      description: 'Filters combine with AND; a bad filter value is a 400 naming the parameter.',
      tags: ['services'],
      querystring: ServiceFilter,
      response: { 200: ServiceList, ...errorResponses('invalid_argument') },
    },
    handler: async (req) => {
      const all = store.services.all();
      return req.query.stack === undefined && req.query.label === undefined ? all : all.filter((s) => matchesServiceFilter(s, req.query));
    },
  });

  app.post<{ Body: ServiceSpec }>('/v1/services', {
    schema: {
      summary: 'Create a service',
      tags: ['services'],
      body: ServiceSpec,
      response: { 201: Service, ...errorResponses('invalid_argument', 'already_exists') },
    },
    handler: async (req, reply) => {
      const spec = req.body;
      const id = newId();
      const taken = `service name ${spec.name} is already taken`;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            if (tx.services.byName(spec.name)) throw new ApiError('already_exists', taken);
            checkFileReferences(spec, tx.table('secret'), tx.table('config'));
            const checked = checkServiceNetworks(spec, tx.table('network'));
            checkPortClash(checked, tx.services.all());
            tx.services.create({ id, spec: checked, specVersion: 1 });
          }),
        { already_exists: taken },
      );
      return reply.code(201).send(store.services.get(id));
    },
  });

  app.get<{ Params: ServiceRef }>('/v1/services/:idOrName', {
    schema: { summary: 'Inspect a service', tags: ['services'], params: ServiceRef, response: { 200: Service, ...errorResponses('not_found') } },
    handler: async (req) => resolveService(store.services, req.params.idOrName),
  });

  app.put<{ Params: ServiceRef; Body: ServiceUpdateBody }>('/v1/services/:idOrName', {
    schema: {
      summary: 'Replace a service spec',
      description:
        'Takes the full spec and the version it was based on. A change to what tasks run bumps specVersion, keeps the old spec as previousSpec and starts a rolling update (updateStatus "updating").',
      tags: ['services'],
      params: ServiceRef,
      body: ServiceUpdateBody,
      response: { 200: Service, ...errorResponses('invalid_argument', 'not_found', 'conflict', 'already_exists') },
    },
    handler: async (req) => {
      const spec = validateServiceSpec(req.body.spec);
      const { version } = req.body;
      const current = resolveService(store.services, req.params.idOrName);
      const taken = `service name ${spec.name} is already taken`;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const s = tx.services.get(current.id);
            if (!s) throw new ApiError('not_found', `service ${req.params.idOrName} not found`);
            checkVersion(s, version);
            if (spec.name !== s.spec.name && tx.services.byName(spec.name)) throw new ApiError('already_exists', taken);
            checkFileReferences(spec, tx.table('secret'), tx.table('config'));
            const checked = checkServiceNetworks(spec, tx.table('network'));
            checkPortClash(checked, tx.services.all().filter((o) => o.id !== s.id), s.spec);
            tx.services.update(withUpdatedSpec(s, checked, ctx.deps.clock.now()));
          }),
        { already_exists: taken, conflict: `service ${current.spec.name} changed while it was being updated: read it again and retry` },
      );
      return store.services.get(current.id);
    },
  });

  app.delete<{ Params: ServiceRef }>('/v1/services/:idOrName', {
    schema: { summary: 'Remove a service and its tasks', tags: ['services'], params: ServiceRef, response: { 204: NoContent, ...errorResponses('not_found') } },
    handler: async (req, reply) => {
      const s = resolveService(store.services, req.params.idOrName);
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            if (tx.services.get(s.id)) tx.services.delete(s.id);
          }),
        {},
      );
      return reply.code(204).send();
    },
  });

  app.post<{ Params: ServiceRef; Body: ScaleBody }>('/v1/services/:idOrName/scale', {
    schema: {
      summary: 'Set the replica count of a replicated service',
      tags: ['services'],
      params: ServiceRef,
      body: ScaleBody,
      response: { 200: Service, ...errorResponses('invalid_argument', 'not_found', 'conflict', 'failed_precondition') },
    },
    handler: async (req) => {
      const current = resolveService(store.services, req.params.idOrName);
      const { replicas, version } = req.body;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const s = tx.services.get(current.id);
            if (!s) throw new ApiError('not_found', `service ${req.params.idOrName} not found`);
            checkVersion(s, version);
            if (s.spec.mode !== 'replicated' && s.spec.mode !== 'replicated-job') {
              throw new ApiError('failed_precondition', `service ${s.spec.name} is ${s.spec.mode}: it runs one task per node and cannot be scaled`);
            }
            if (s.spec.replicas === replicas) return;
            const spec = { ...s.spec, replicas };
            tx.services.update(withUpdatedSpec(s, spec, ctx.deps.clock.now()));
          }),
        { conflict: `service ${current.spec.name} changed while it was being scaled: retry` },
      );
      return store.services.get(current.id);
    },
  });

  app.post<{ Params: ServiceRef }>('/v1/services/:idOrName/rollback', {
    schema: {
      summary: 'Roll a service back to its previous spec',
      description:
        'Swaps spec and previousSpec (specVersion moves to a new number) and rolls the change out with the rollbackConfig of the spec being left. A second rollback returns to the newer spec.',
      tags: ['services'],
      params: ServiceRef,
      response: { 200: Service, ...errorResponses('not_found', 'conflict', 'failed_precondition') },
    },
    handler: async (req) => {
      const current = resolveService(store.services, req.params.idOrName);
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const s = tx.services.get(current.id);
            if (!s) throw new ApiError('not_found', `service ${req.params.idOrName} not found`);
            const next = rolledBack(s, 'manually requested rollback', ctx.deps.clock.now());
            if (!next) {
              throw new ApiError('failed_precondition', `service ${s.spec.name} has no previous spec to roll back to: it was never updated`);
            }
            tx.services.update(next);
          }),
        { conflict: `service ${current.spec.name} changed while it was being rolled back: retry` },
      );
      return store.services.get(current.id);
    },
  });
}
