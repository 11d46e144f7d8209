import type { FastifyInstance } from 'fastify';
import { BuildOptions, BuildQuery, BuiltImage, MAX_CONTEXT_BYTES, type BuildEvent } from '../../api/build.ts';
import { ApiError } from '../../api/errors.ts';
import { Value } from '@sinclair/typebox/value';
import { Type } from '@sinclair/typebox';
import type { RouteContext } from './context.ts';
import { errorResponses } from './errors.ts';

const ImageRefQuery = Type.Object({ ref: Type.String({ minLength: 1, maxLength: 512 }) });

/**
 * `GET /v1/images?ref=` (a built image the cluster holds, or 404) and `POST /v1/builds`
 * (build a context: docs/builds.md). The build's body is the context as a tar
 * (`application/x-tar`), streamed into the manager's blob store up to `MAX_CONTEXT_BYTES`; the
 * answer is newline-delimited JSON `BuildEvent`s: the engine's progress as it comes, then one
 * `done` (with `cached` when the cluster had the image) or `error` (with the failing step).
 */
export function registerBuildRoutes(app: FastifyInstance, ctx: RouteContext): void {
  // The context tar is passed to the handler as the request stream, never buffered whole.
  app.addContentTypeParser('application/x-tar', (_req, payload, done) => done(null, payload));

  app.get<{ Querystring: { ref: string } }>('/v1/images', {
    schema: { summary: 'Inspect a built image by its reference', tags: ['images'], querystring: ImageRefQuery, response: { 200: BuiltImage, ...errorResponses('not_found', 'unavailable') } },
    // Image archives are kept by the manager that took the build, the leader: it answers
    // whether it holds this one (after a change of leader it may not: then a 404, and the
    // client builds it again).
    config: { leader: {} },
    handler: async (req) => {
      const images = ctx.deps.images;
      if (!images) throw new ApiError('unavailable', 'this manager cannot build images');
      const image = images.find(req.query.ref);
      if (!image) throw new ApiError('not_found', `the cluster has no image ${req.query.ref}`);
      if (images.hasArchive && !(await images.hasArchive(image))) {
        throw new ApiError('not_found', `the leader does not hold the archive of image ${req.query.ref} (it was built while another manager led, and archives stay on the manager that took the build): build it again`);
      }
      return image;
    },
  });

  app.post<{ Querystring: BuildQuery; Body: AsyncIterable<Buffer> }>('/v1/builds', {
    schema: {
      summary: 'Build an image from a context',
      description:
        'The body is the build context as a tar (application/x-tar, at most 512 MiB). The image is named flotilla.local/NAME:HASH, HASH the sha256 of the context and the options; when the cluster has it, nothing is built. Otherwise one node builds it with its engine and the manager keeps the saved image, which nodes fetch over their session before they run it. The answer is newline-delimited JSON: {progress} lines, then {done, cached} or {error: {code, message, step}}.',
      tags: ['images'],
      querystring: BuildQuery,
      response: errorResponses('invalid_argument', 'unavailable'),
    },
    // Builders are reached over their sessions, the leader's: a follower forwards, the context streamed through.
    config: { leader: { interrupted: (error) => ({ error }) } },
    handler: async (req, reply) => {
      const images = ctx.deps.images;
      if (!images) throw new ApiError('unavailable', 'this manager cannot build images');
      if (!req.headers['content-type']?.startsWith('application/x-tar')) throw new ApiError('invalid_argument', 'the build context must be sent as application/x-tar');
      const length = Number(req.headers['content-length'] ?? 0);
      if (length > MAX_CONTEXT_BYTES) throw new ApiError('invalid_argument', `the build context is ${length} bytes, more than ${MAX_CONTEXT_BYTES} (add a .dockerignore?)`);
      const options = parseOptions(req.query.options);
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-cache' });
      const write = (e: BuildEvent): void => {
        if (!raw.writableEnded && !raw.destroyed) raw.write(`${JSON.stringify(e)}\n`);
      };
      try {
        write(await images.build(req.query.name, options, req.body, write));
      } catch (err) {
        req.log.error({ err }, 'build failed');
        write({ error: { code: 'internal', message: err instanceof Error ? err.message : String(err) } });
      }
      raw.end();
    },
  });
}

function parseOptions(text: string): BuildOptions {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError('invalid_argument', 'options: not JSON');
  }
  const withDefaults = Value.Default(BuildOptions, Value.Clone(value));
  if (!Value.Check(BuildOptions, withDefaults)) {
    const first = Value.Errors(BuildOptions, withDefaults).First();
    throw new ApiError('invalid_argument', `options${first?.path ?? ''}: ${first?.message ?? 'invalid'}`, { details: [{ path: `options${first?.path ?? ''}`, message: first?.message ?? 'invalid' }] });
  }
  return withDefaults;
}
