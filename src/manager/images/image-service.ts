import type { AgentMessage, ManagerMessage } from '../../api/agent-protocol.ts';
import { BLOB_CHUNK_BYTES } from '../../api/agent-protocol.ts';
import { builtImageRef, contentHash, MAX_CONTEXT_BYTES, type BuildEvent, type BuildOptions, type BuildOutcome, type BuiltImage } from '../../api/build.ts';
import type { Clock } from '../../lib/clock.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';
import { newId } from '../../lib/ids.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../store/store.ts';
import { isBlobError, type BlobStore, type BlobWriter } from './blob-store.ts';

export type ImageErrorCode = 'too_large' | 'unavailable' | 'build_failed' | 'not_found';

/** A build that could not run or failed; `step` is the Dockerfile step that failed. */
export class ImageError extends CodedError<ImageErrorCode> {
  override readonly name = 'ImageError';
  readonly step: string | undefined;
  constructor(code: ImageErrorCode, message: string, options?: { readonly cause?: unknown; readonly step?: string | undefined }) {
    super(code, message, options);
    this.step = options?.step;
  }
}
export const isImageError = errorGuard(ImageError);

export interface ImageServiceDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The blob store in the manager's data directory. */
  readonly blobs: BlobStore;
  /** Sends a message to a node over its session; false when it has none. */
  readonly send: (nodeId: string, m: ManagerMessage) => boolean;
  /** Nodes that can build now: connected, ready, with a Docker engine (best first). */
  readonly builders: () => readonly string[];
}

export interface ImageServiceOptions {
  /** Largest build context (tar bytes). Default `MAX_CONTEXT_BYTES`. */
  readonly maxContextBytes?: number;
  /** Largest saved image. Default 4 GiB. */
  readonly maxImageBytes?: number;
}


interface RunningBuild {
  readonly id: string;
  readonly nodeId: string;
  readonly ref: string;
  readonly contextDigest: string;
  readonly image: BlobWriter;
  readonly emit: (e: BuildEvent) => void;
  nextSeq: number;
  lastStep: string | undefined;
  writes: Promise<void>;
  finish: (err?: ImageError) => void;
}

/**
 * Builds images on an engine of the cluster and keeps them for the nodes (docs/builds.md).
 * `build` takes a context tar (bounded), names the image by its content, answers at once when
 * the cluster has it, else hands the build to one node's agent over its session, relays the
 * engine's progress and stores the saved archive as a blob with its metadata in the store
 * (`image` table). Agents read blobs with `blob-read`: a build's context while they build it,
 * a built image's archive before they create a task's container with it.
 */
export class ImageService {
  readonly #d: ImageServiceDeps;
  readonly #maxContext: number;
  readonly #maxImage: number;
  readonly #builds = new Map<string, RunningBuild>();
  /** Builds in progress by image ref: a second request for the same image waits for the first. */
  readonly #byRef = new Map<string, Promise<BuiltImage>>();

  constructor(deps: ImageServiceDeps, options: ImageServiceOptions = {}) {
    this.#d = deps;
    this.#maxContext = options.maxContextBytes ?? MAX_CONTEXT_BYTES;
    this.#maxImage = options.maxImageBytes ?? 4 * 1024 * 1024 * 1024;
  }

  /** The built image with this ref, if the cluster has it. */
  find(ref: string): BuiltImage | undefined {
    return this.#d.store.table('image').by('ref', ref)[0];
  }

  /** Whether this manager's blob store holds `image`'s archive (after a change of leader it may not). */
  hasArchive(image: BuiltImage): Promise<boolean> {
    return this.#d.blobs.has(image.blobDigest);
  }

  /**
   * Builds `context` (a tar) as image `name` with `options`, reporting progress through
   * `emit`; resolves with how it ended: the image (`cached` when the cluster had it) or why not.
   */
  async build(name: string, options: BuildOptions, context: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, emit: (e: BuildEvent) => void): Promise<BuildOutcome> {
    try {
      const { image, cached } = await this.buildImage(name, options, context, emit);
      return { done: image, cached };
    } catch (err) {
      if (!isImageError(err)) throw err;
      return { error: { code: err.code, message: err.message, ...(err.step === undefined ? {} : { step: err.step }) } };
    }
  }

  /** `build`, throwing an `ImageError` instead of returning a failure. */
  async buildImage(name: string, options: BuildOptions, context: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, emit: (e: BuildEvent) => void): Promise<{ image: BuiltImage; cached: boolean }> {
    let ctx;
    try {
      ctx = await this.#d.blobs.put(context, this.#maxContext);
    } catch (err) {
      if (isBlobError(err) && err.code === 'too_large') throw new ImageError('too_large', `the build context is larger than ${this.#maxContext} bytes (add a .dockerignore?)`);
      throw err;
    }
    try {
      const ref = builtImageRef(name, contentHash(ctx.digest, options));
      const have = this.find(ref);
      if (have && (await this.#d.blobs.has(have.blobDigest))) return { image: have, cached: true };
      const running = this.#byRef.get(ref);
      if (running) return { image: await running, cached: true };
      const p = this.#run(ref, ctx.digest, options, emit);
      this.#byRef.set(ref, p);
      try {
        return { image: await p, cached: false };
      } finally {
        this.#byRef.delete(ref);
      }
    } finally {
      // The context is needed only while it is built (another build of it is a new upload).
      if (![...this.#builds.values()].some((b) => b.contextDigest === ctx.digest)) await this.#d.blobs.remove(ctx.digest);
    }
  }

  async #run(ref: string, contextDigest: string, options: BuildOptions, emit: (e: BuildEvent) => void): Promise<BuiltImage> {
    const nodeId = this.#d.builders()[0];
    if (nodeId === undefined) throw new ImageError('unavailable', 'no node can build images now: none with a Docker engine is connected');
    const id = newId();
    const image = await this.#d.blobs.writer(this.#maxImage);
    const done = new Promise<void>((resolve, reject) => {
      const b: RunningBuild = {
        id, nodeId, ref, contextDigest, image, emit, nextSeq: 0, lastStep: undefined, writes: Promise.resolve(),
        finish: (err) => {
          if (!this.#builds.delete(id)) return;
          if (err) reject(err);
          else resolve();
        },
      };
      this.#builds.set(id, b);
    });
    emit({ progress: `building ${ref} on node ${nodeId}` });
    if (!this.#d.send(nodeId, { type: 'build', buildId: id, ref, options })) {
      this.#builds.get(id)?.finish(new ImageError('unavailable', `node ${nodeId} is not connected`));
    }
    try {
      await done;
      const { digest, size } = await image.commit();
      const now = new Date(this.#d.clock.now()).toISOString();
      const hash = ref.slice(ref.lastIndexOf(':') + 1);
      const meta = { id: newId(), labels: {}, ref, contentHash: hash, blobDigest: digest, sizeBytes: size, builtOn: nodeId, createdAt: now, updatedAt: now };
      await this.#d.store.update((tx) => {
        for (const old of tx.table('image').by('ref', ref)) tx.table('image').delete(old.id);
        tx.table('image').create(meta);
      });
      const stored = this.find(ref);
      if (!stored) throw new ImageError('unavailable', `image ${ref} was stored but cannot be read back`);
      this.#d.logger.info({ ref, node: nodeId, bytes: size }, 'image built');
      return stored;
    } catch (err) {
      await image.abort();
      throw err;
    }
  }

  /** A node's session closed: its builds fail (the CLI may deploy again). */
  nodeGone(nodeId: string): void {
    for (const b of [...this.#builds.values()]) {
      if (b.nodeId === nodeId) b.finish(new ImageError('unavailable', `node ${nodeId} disconnected during the build of ${b.ref}`));
    }
  }

  /** Handles the image messages of an agent (`blob-read`, `build-*`); false for other types. */
  onAgentMessage(nodeId: string, m: AgentMessage): boolean {
    switch (m.type) {
      case 'blob-read':
        this.#read(nodeId, m.requestId, m.image, m.build, m.offset).catch((err: unknown) => this.#d.logger.error({ err, node: nodeId }, 'blob read failed'));
        return true;
      case 'build-progress': {
        const b = this.#mine(nodeId, m.buildId);
        if (!b) return true;
        for (const line of m.lines) {
          if (/^Step \d+\/\d+ : /.test(line) || /^#\d+ \[/.test(line)) b.lastStep = line.trim();
          b.emit({ progress: line });
        }
        return true;
      }
      case 'build-blob': {
        const b = this.#mine(nodeId, m.buildId);
        if (!b) return true;
        if (m.seq !== b.nextSeq) {
          b.finish(new ImageError('unavailable', `node ${nodeId} sent part ${m.seq} of image ${b.ref} where part ${b.nextSeq} was due`));
          return true;
        }
        b.nextSeq++;
        const data = Buffer.from(m.data, 'base64');
        b.writes = b.writes.then(async () => {
          await b.image.write(data);
          this.#d.send(nodeId, { type: 'build-ack', buildId: b.id, seq: m.seq });
        }).catch((err: unknown) => {
          const tooLarge = isBlobError(err) && err.code === 'too_large';
          b.finish(new ImageError(tooLarge ? 'too_large' : 'unavailable', tooLarge ? `image ${b.ref} is larger than ${this.#maxImage} bytes` : `cannot store image ${b.ref}: ${String(err)}`));
          this.#d.send(nodeId, { type: 'build-cancel', buildId: b.id });
        });
        return true;
      }
      case 'build-end': {
        const b = this.#mine(nodeId, m.buildId);
        if (!b) return true;
        if (m.error) {
          const step = m.error.step ?? b.lastStep;
          b.finish(new ImageError('build_failed', m.error.message, { step }));
          return true;
        }
        void b.writes.then(() => b.finish());
        return true;
      }
      default:
        return false;
    }
  }

  #mine(nodeId: string, buildId: string): RunningBuild | undefined {
    const b = this.#builds.get(buildId);
    return b?.nodeId === nodeId ? b : undefined;
  }

  async #read(nodeId: string, requestId: string, image: string | undefined, build: string | undefined, offset: number): Promise<void> {
    const reply = (data: Buffer, eof: boolean, error?: string): void => {
      this.#d.send(nodeId, { type: 'blob-chunk', requestId, data: data.toString('base64'), eof, ...(error === undefined ? {} : { error }) });
    };
    let digest: string | undefined;
    if (build !== undefined) digest = this.#mine(nodeId, build)?.contextDigest;
    else if (image !== undefined) digest = this.find(image)?.blobDigest;
    if (digest === undefined) return reply(Buffer.alloc(0), true, build !== undefined ? `no build ${build} for this node` : `the cluster has no image ${image ?? ''}`);
    try {
      const { data, eof } = await this.#d.blobs.read(digest, offset, BLOB_CHUNK_BYTES);
      reply(data, eof);
    } catch (err) {
      const lost = isBlobError(err) && err.code === 'not_found' && image !== undefined;
      // Blobs are not replicated: an image built while another manager led is not on this one.
      const message = lost
        ? `the leader does not hold the archive of image ${image} (it was built while another manager led, and archives stay on the manager that took the build): deploy again to build it anew`
        : isBlobError(err) ? err.message : `cannot read blob: ${String(err)}`;
      reply(Buffer.alloc(0), true, message);
    }
  }
}

/**
 * The nodes that may build, best first: connected, ready, active, with the Docker driver; the
 * manager's own node first (its engine is nearest), then by id for a stable choice.
 */
export function builderNodes(store: Store, connected: readonly string[], localNodeId?: string): string[] {
  const ok = connected.filter((id) => {
    const n = store.nodes.get(id);
    return n !== undefined && n.status.state === 'ready' && n.spec.availability === 'active' && n.description.drivers.includes('docker');
  });
  return ok.sort((a, b) => (a === localNodeId ? -1 : b === localNodeId ? 1 : a < b ? -1 : a > b ? 1 : 0));
}
