import { builtImageRef, contentHash, MAX_CONTEXT_BYTES, type BuildFailure, type StackBuild } from '../api/build.ts';
import type { FlotillaClient } from '../client/client.ts';
import { ClientError } from '../client/client.ts';
import { packContext } from './build-context.ts';

/** Where build output goes: a line at a time. */
export interface BuildIo {
  /** What happens ("Building web", "web: image unchanged"). */
  readonly say: (line: string) => void;
  /** The engine's output, live; undefined when quiet (then only a failure's tail is shown). */
  readonly progress?: ((line: string) => void) | undefined;
  /** A failure's lines. */
  readonly fail: (line: string) => void;
}

/** A build failed: nothing was deployed. */
export class BuildFailed extends Error {
  override readonly name = 'BuildFailed';
  readonly service: string;
  readonly failure: BuildFailure;
  constructor(service: string, failure: BuildFailure) {
    super(`service ${service}: build failed${failure.step === undefined ? '' : ` at ${failure.step}`}: ${failure.message}`);
    this.service = service;
    this.failure = failure;
  }
}

export function isBuildFailed(e: unknown): e is BuildFailed {
  return e instanceof BuildFailed;
}

/**
 * The image name of a stack's service: `STACK_SERVICE` as Docker takes a repository name
 * (lowercase; letters and digits joined by one `.`, one or two `_`, or dashes).
 */
export function imageName(stack: string, service: string): string {
  const name = `${stack}_${service}`.toLowerCase().replace(/[^a-z0-9]+/g, (sep) => (/^(\.|_{1,2}|-+)$/.test(sep) ? sep : '-'));
  return name.replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'image';
}

/** How many lines of output a quiet build shows when it fails. */
const TAIL_LINES = 30;

/**
 * Builds the images a stack needs (docs/builds.md), one service after the other: packs each
 * context, names the image by the context's digest and the options, and asks the cluster for
 * it; only a context the cluster has not built is sent. Returns the built image of each
 * service, for the deploy's `builtImages`. A failed build throws `BuildFailed` (its output
 * and failing step already shown), before anything is deployed.
 */
export async function buildStackImages(client: Pick<FlotillaClient, 'getImage' | 'build'>, stack: string, builds: readonly StackBuild[], io: BuildIo): Promise<Record<string, string>> {
  const images: Record<string, string> = {};
  for (const b of builds) {
    const name = imageName(stack, b.service);
    const packed = await packContext(b.context, b.options.dockerfile, MAX_CONTEXT_BYTES);
    const ref = builtImageRef(name, contentHash(packed.digest, b.options));
    if (await client.getImage(ref)) {
      io.say(`Image of service ${b.service} is up to date (${ref}); not rebuilt`);
      images[b.service] = ref;
      continue;
    }
    io.say(`Building service ${b.service} from ${b.context} (${packed.files} ${packed.files === 1 ? 'file' : 'files'}, ${packed.tar.length} bytes)`);
    const tail: string[] = [];
    let outcome: { ref: string } | BuildFailure | undefined;
    for await (const e of client.build(name, b.options, packed.tar)) {
      if ('progress' in e) {
        for (const line of e.progress.split('\n')) {
          if (line.trim() === '') continue;
          if (io.progress) io.progress(`${b.service}: ${line}`);
          tail.push(line);
          if (tail.length > TAIL_LINES) tail.shift();
        }
      } else if ('done' in e) {
        outcome = { ref: e.done.ref };
      } else {
        outcome = e.error;
      }
    }
    if (outcome === undefined) throw new ClientError('protocol', `the build of service ${b.service} ended without a result`);
    if ('ref' in outcome) {
      images[b.service] = outcome.ref;
      continue;
    }
    if (!io.progress) for (const line of tail) io.fail(`${b.service}: ${line}`);
    const failed = new BuildFailed(b.service, outcome);
    io.fail(`error: ${failed.message}`);
    throw failed;
  }
  return images;
}
