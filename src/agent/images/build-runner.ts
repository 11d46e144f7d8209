import type { AgentMessage, BuildRequestMessage } from '../../api/agent-protocol.ts';
import { BLOB_CHUNK_BYTES } from '../../api/agent-protocol.ts';
import type { Logger } from '../../lib/logger.ts';
import { isDriverError, type Driver } from '../drivers/driver.ts';
import type { BlobReader } from './blob-reader.ts';

export interface BuildRunnerDeps {
  readonly drivers: ReadonlyMap<string, Driver>;
  readonly reader: BlobReader;
  readonly logger: Logger;
  readonly send: (m: AgentMessage) => boolean;
}

/** `build-blob` messages sent before the first unacknowledged one must be acknowledged. */
const WINDOW = 8;

interface Running {
  readonly abort: AbortController;
  acked: number;
  wake: (() => void) | undefined;
}

/**
 * Runs the builds the manager hands this node (docs/builds.md): reads the context from the
 * manager, builds it with the engine (progress lines sent as they come, batched per tick),
 * then sends the saved image in order as `build-blob`s, at most `WINDOW` unacknowledged, and
 * ends with `build-end` (with the failing step on failure). A lost session or `build-cancel`
 * aborts it. The image stays in this node's engine, so its own tasks need no fetch.
 */
export class BuildRunner {
  readonly #d: BuildRunnerDeps;
  readonly #running = new Map<string, Running>();

  constructor(deps: BuildRunnerDeps) {
    this.#d = deps;
  }

  start(m: BuildRequestMessage): void {
    if (this.#running.has(m.buildId)) return;
    const r: Running = { abort: new AbortController(), acked: -1, wake: undefined };
    this.#running.set(m.buildId, r);
    this.#run(m, r)
      .catch((err: unknown) => this.#d.logger.error({ err, build: m.buildId }, 'build failed unexpectedly'))
      .finally(() => this.#running.delete(m.buildId));
  }

  ack(buildId: string, seq: number): void {
    const r = this.#running.get(buildId);
    if (!r) return;
    r.acked = Math.max(r.acked, seq);
    r.wake?.();
  }

  cancel(buildId: string): void {
    this.#running.get(buildId)?.abort.abort(new Error('cancelled by the manager'));
  }

  /** The session closed: builds in progress are abandoned (the manager failed them too). */
  disconnected(): void {
    for (const r of this.#running.values()) r.abort.abort(new Error('the session with the manager closed'));
  }

  async #run(m: BuildRequestMessage, r: Running): Promise<void> {
    const { buildId } = m;
    const signal = r.abort.signal;
    const end = (error?: { message: string; step?: string | undefined }): void => {
      this.#d.send({ type: 'build-end', buildId, ...(error ? { error: { message: error.message, ...(error.step === undefined ? {} : { step: error.step }) } } : {}) });
    };
    const images = this.#d.drivers.get('docker')?.images;
    if (!images) return end({ message: 'this node has no Docker engine to build with' });
    let lines: string[] = [];
    let flushQueued = false;
    const flush = (): void => {
      flushQueued = false;
      if (lines.length === 0) return;
      this.#d.send({ type: 'build-progress', buildId, lines });
      lines = [];
    };
    try {
      await images.build(this.#d.reader.read({ build: buildId }, signal), m.ref, m.options, (line) => {
        lines.push(line);
        if (!flushQueued) {
          flushQueued = true;
          queueMicrotask(flush);
        }
      }, signal);
      flush();
      let seq = 0;
      let pending = Buffer.alloc(0);
      const sendChunk = async (data: Buffer): Promise<void> => {
        while (seq - r.acked > WINDOW) {
          signal.throwIfAborted();
          await new Promise<void>((resolve) => {
            r.wake = resolve;
            signal.addEventListener('abort', () => resolve(), { once: true });
          });
          r.wake = undefined;
        }
        signal.throwIfAborted();
        if (!this.#d.send({ type: 'build-blob', buildId, seq: seq++, data: data.toString('base64') })) throw new Error('the session with the manager closed');
      };
      for await (const chunk of await images.save(m.ref)) {
        pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
        while (pending.length >= BLOB_CHUNK_BYTES) {
          await sendChunk(pending.subarray(0, BLOB_CHUNK_BYTES));
          pending = pending.subarray(BLOB_CHUNK_BYTES);
        }
      }
      if (pending.length > 0) await sendChunk(pending);
      end();
    } catch (err) {
      flush();
      if (signal.aborted) return;
      const message = err instanceof Error ? err.message : String(err);
      end({ message, step: isDriverError(err) ? err.step : undefined });
    }
  }
}
