import { Readable } from 'node:stream';
import type Docker from 'dockerode';
import { DriverError, type DriverImages, type ImageBuildOptions } from '../driver.ts';
import { dockerError, statusOf } from './docker-error.ts';

/** A step line of the classic builder's output. */
const STEP = /^Step \d+\/\d+ : /;

/**
 * The Docker engine's images for built images (docs/builds.md): `has` (inspect), `load`
 * (`POST /images/load`), `build` (`POST /build` with the classic builder, whose output names
 * each step, so a failure says which one), `save` (`GET /images/NAME/get`).
 */
export class DockerImages implements DriverImages {
  readonly #docker: Docker;

  constructor(docker: Docker) {
    this.#docker = docker;
  }

  async has(ref: string): Promise<boolean> {
    try {
      await this.#docker.getImage(ref).inspect();
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw dockerError(e, 'unavailable', `inspect image ${ref}`);
    }
  }

  async load(archive: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<void> {
    const body = Readable.from(archive);
    const onAbort = (): void => {
      body.destroy(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = (await this.#docker.loadImage(body, { quiet: true })) as NodeJS.ReadableStream;
      let failure: string | undefined;
      await jsonLines(res, (m) => {
        failure ??= m.errorDetail?.message ?? m.error;
      });
      if (failure !== undefined) throw new DriverError('image_not_found', `load image: ${failure}`);
    } catch (e) {
      if (signal?.aborted) throw signal.reason as Error;
      throw e instanceof DriverError ? e : dockerError(e, 'image_not_found', 'load image');
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async build(context: AsyncIterable<Uint8Array>, ref: string, options: ImageBuildOptions, onLine: (line: string) => void, signal?: AbortSignal): Promise<void> {
    const body = Readable.from(context);
    const query: Record<string, unknown> = { t: ref, dockerfile: options.dockerfile, rm: true, forcerm: true, version: '1' };
    if (options.target !== undefined) query['target'] = options.target;
    if (Object.keys(options.args).length > 0) query['buildargs'] = { ...options.args };
    if (Object.keys(options.labels).length > 0) query['labels'] = { ...options.labels };
    let res: NodeJS.ReadableStream;
    try {
      res = (await this.#docker.buildImage(body as unknown as NodeJS.ReadableStream, query)) as NodeJS.ReadableStream;
    } catch (e) {
      // The engine refused the build outright (a Dockerfile it cannot parse, a missing one).
      if (statusOf(e) !== undefined) {
        const err = dockerError(e, 'build_failed');
        // dockerode's wording around the engine's: "(HTTP code 400) unexpected - dockerfile parse error …".
        throw new DriverError('build_failed', err.message.replace(/^\(HTTP code \d+\) [^-]*- /, '').trim(), { cause: e });
      }
      throw dockerError(e, 'unavailable', `build ${ref}`);
    }
    const onAbort = (): void => {
      (res as Readable).destroy(signal?.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let step: string | undefined;
    let failure: string | undefined;
    let partial = '';
    try {
      await jsonLines(res, (m) => {
        if (typeof m.stream === 'string') {
          partial += m.stream;
          let nl: number;
          while ((nl = partial.indexOf('\n')) >= 0) {
            const line = partial.slice(0, nl).replace(/\r$/, '');
            partial = partial.slice(nl + 1);
            if (STEP.test(line)) step = line;
            onLine(line);
          }
        }
        if (m.error !== undefined || m.errorDetail !== undefined) failure ??= m.errorDetail?.message ?? m.error;
      });
    } catch (e) {
      if (signal?.aborted) throw signal.reason as Error;
      throw dockerError(e, 'unavailable', `build ${ref}`);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (partial !== '') onLine(partial);
    if (failure !== undefined) throw new DriverError('build_failed', failure.trim(), { step });
    if (!(await this.has(ref))) throw new DriverError('build_failed', `the engine reported no error but has no image ${ref}`, { step });
  }

  async save(ref: string): Promise<AsyncIterable<Uint8Array>> {
    try {
      return (await this.#docker.getImage(ref).get()) as unknown as AsyncIterable<Uint8Array>;
    } catch (e) {
      throw dockerError(e, 'image_not_found', `save image ${ref}`);
    }
  }
}

interface EngineMessage {
  stream?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Calls `each` with every JSON line of an engine's streamed answer (other lines are skipped). */
async function jsonLines(stream: NodeJS.ReadableStream, each: (m: EngineMessage) => void): Promise<void> {
  let buf = '';
  const take = (line: string): void => {
    if (line.trim() === '') return;
    try {
      each(JSON.parse(line) as EngineMessage);
    } catch {
      // not JSON: noise
    }
  };
  for await (const chunk of stream) {
    buf += String(chunk);
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      take(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
  take(buf);
}
