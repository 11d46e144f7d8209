import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { NoContent } from '../../api/meta.ts';
import { Config, ConfigList, FileObjectCreate, FileObjectRef } from '../../api/secret.ts';
import { newId } from '../../lib/ids.ts';
import type { RouteContext } from './context.ts';
import { errorResponses, translateStoreErrors } from './errors.ts';
import { decodeData, servicesUsing } from './file-objects.ts';
import { resolveByName } from './lookup.ts';

/** `GET/POST /v1/configs`, `GET/DELETE /v1/configs/:idOrName`. Config data is plain and returned as stored (base64). */
export function registerConfigRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;
  const table = (): ReturnType<typeof store.table<'config'>> => store.table('config');

  app.get('/v1/configs', {
    schema: { summary: 'List configs', tags: ['configs'], response: { 200: ConfigList } },
    handler: async () => table().all(),
  });

  app.post<{ Body: FileObjectCreate }>('/v1/configs', {
    schema: {
      summary: 'Create a config',
      description: 'The data is base64, at most 500 KiB decoded.',
      tags: ['configs'],
      body: FileObjectCreate,
      response: { 201: Config, ...errorResponses('invalid_argument', 'already_exists') },
    },
    handler: async (req, reply) => {
      const { spec } = req.body;
      const data = decodeData('config', req.body.data).toString('base64');
      const id = newId();
      const taken = `config name ${spec.name} is already taken`;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            if (tx.table('config').by('name', spec.name).length > 0) throw new ApiError('already_exists', taken);
            tx.table('config').create({ id, spec, data });
          }),
        { already_exists: taken },
      );
      return reply.code(201).send(table().get(id));
    },
  });

  app.get<{ Params: FileObjectRef }>('/v1/configs/:idOrName', {
    schema: { summary: 'Inspect a config', tags: ['configs'], params: FileObjectRef, response: { 200: Config, ...errorResponses('not_found') } },
    handler: async (req) => resolveByName('config', table(), req.params.idOrName),
  });

  app.delete<{ Params: FileObjectRef }>('/v1/configs/:idOrName', {
    schema: {
      summary: 'Remove a config',
      description: 'Refused (412) while a service uses it.',
      tags: ['configs'],
      params: FileObjectRef,
      response: { 204: NoContent, ...errorResponses('not_found', 'failed_precondition') },
    },
    handler: async (req, reply) => {
      const c = resolveByName('config', table(), req.params.idOrName);
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const users = servicesUsing(tx.services.all(), 'config', c.id);
            if (users.length > 0) {
              throw new ApiError('failed_precondition', `config ${c.spec.name} is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: remove it from them first`);
            }
            if (tx.table('config').get(c.id)) tx.table('config').delete(c.id);
          }),
        {},
      );
      return reply.code(204).send();
    },
  });
}
