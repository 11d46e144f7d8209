import type { FastifyInstance } from 'fastify';
import { ApiError } from '../../api/errors.ts';
import { NoContent } from '../../api/meta.ts';
import { FileObjectCreate, FileObjectRef, Secret, SecretList, type StoredSecret } from '../../api/secret.ts';
import { newId } from '../../lib/ids.ts';
import type { RouteContext } from './context.ts';
import { errorResponses, translateStoreErrors } from './errors.ts';
import { decodeData, servicesUsing } from './file-objects.ts';
import { resolveByName } from './lookup.ts';

/** The API view of a stored secret: everything but the sealed data. */
export function secretView(s: StoredSecret): Secret {
  const { sealed: _sealed, ...view } = s;
  return view;
}

/**
 * `GET/POST /v1/secrets`, `GET/DELETE /v1/secrets/:idOrName`. Data is sealed (AES-256-GCM,
 * `deps.secrets`) before it reaches the store and is never returned; the plaintext lives only
 * in this request's memory.
 */
export function registerSecretRoutes(app: FastifyInstance, ctx: RouteContext): void {
  const { store } = ctx.deps;
  const table = (): ReturnType<typeof store.table<'secret'>> => store.table('secret');

  app.get('/v1/secrets', {
    schema: { summary: 'List secrets (never their data)', tags: ['secrets'], response: { 200: SecretList } },
    handler: async () => table().all().map(secretView),
  });

  app.post<{ Body: FileObjectCreate }>('/v1/secrets', {
    schema: {
      summary: 'Create a secret',
      description: 'The data (base64, at most 500 KiB) is sealed with AES-256-GCM under the manager\'s key and never returned.',
      tags: ['secrets'],
      body: FileObjectCreate,
      response: { 201: Secret, ...errorResponses('invalid_argument', 'already_exists', 'unavailable') },
    },
    handler: async (req, reply) => {
      const sealer = ctx.deps.secrets;
      if (!sealer) throw new ApiError('unavailable', 'this manager has no secret sealing key: secrets cannot be stored');
      const { spec } = req.body;
      const bytes = decodeData('secret', req.body.data);
      const id = newId();
      const sealed = sealer.seal(bytes, id);
      const sizeBytes = bytes.length;
      bytes.fill(0);
      const taken = `secret name ${spec.name} is already taken`;
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            if (tx.table('secret').by('name', spec.name).length > 0) throw new ApiError('already_exists', taken);
            tx.table('secret').create({ id, spec, sizeBytes, sealed });
          }),
        { already_exists: taken },
      );
      const created = table().get(id);
      return reply.code(201).send(created ? secretView(created) : undefined);
    },
  });

  app.get<{ Params: FileObjectRef }>('/v1/secrets/:idOrName', {
    schema: { summary: 'Inspect a secret (never its data)', tags: ['secrets'], params: FileObjectRef, response: { 200: Secret, ...errorResponses('not_found') } },
    handler: async (req) => secretView(resolveByName('secret', table(), req.params.idOrName)),
  });

  app.delete<{ Params: FileObjectRef }>('/v1/secrets/:idOrName', {
    schema: {
      summary: 'Remove a secret',
      description: 'Refused (412) while a service uses it.',
      tags: ['secrets'],
      params: FileObjectRef,
      response: { 204: NoContent, ...errorResponses('not_found', 'failed_precondition') },
    },
    handler: async (req, reply) => {
      const s = resolveByName('secret', table(), req.params.idOrName);
      await translateStoreErrors(
        () =>
          store.update((tx) => {
            const users = servicesUsing(tx.services.all(), 'secret', s.id);
            if (users.length > 0) {
              throw new ApiError('failed_precondition', `secret ${s.spec.name} is in use by service${users.length > 1 ? 's' : ''} ${users.join(', ')}: remove it from them first`);
            }
            if (tx.table('secret').get(s.id)) tx.table('secret').delete(s.id);
          }),
        {},
      );
      return reply.code(204).send();
    },
  });
}
