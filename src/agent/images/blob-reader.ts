import type { AgentMessage, BlobChunkMessage } from '../../api/agent-protocol.ts';
import { CodedError, errorGuard } from '../../lib/coded-error.ts';

export type BlobReadErrorCode = 'not_found' | 'disconnected';

/** A blob could not be read from the manager. */
export class BlobReadError extends CodedError<BlobReadErrorCode> {
  override readonly name = 'BlobReadError';
}
export const isBlobReadError = errorGuard(BlobReadError);

/** What to read: a built image's archive, or the context of a build this node was handed. */
export type BlobSource = { readonly image: string } | { readonly build: string };

interface Pending {
  resolve: (m: BlobChunkMessage) => void;
  reject: (err: Error) => void;
}

/**
 * Reads blobs from the manager over the session (docs/builds.md): one `blob-read` at a time
 * per stream, each answered by one `blob-chunk`, so a slow reader never has more than one
 * chunk in flight and the session's other messages pass between them. A lost session fails
 * the reads in progress (`disconnected`); the caller tries again later.
 */
export class BlobReader {
  readonly #send: (m: AgentMessage) => boolean;
  readonly #pending = new Map<string, Pending>();
  #next = 0;

  constructor(send: (m: AgentMessage) => boolean) {
    this.#send = send;
  }

  /** The blob's bytes, in order. */
  async *read(source: BlobSource, signal?: AbortSignal): AsyncGenerator<Buffer> {
    let offset = 0;
    for (;;) {
      signal?.throwIfAborted();
      const m = await this.#request(source, offset, signal);
      if (m.error !== undefined) throw new BlobReadError('not_found', m.error);
      const data = Buffer.from(m.data, 'base64');
      offset += data.length;
      if (data.length > 0) yield data;
      if (m.eof) return;
      if (data.length === 0) throw new BlobReadError('not_found', 'the manager sent an empty chunk before the end of the blob');
    }
  }

  /** A `blob-chunk` arrived. */
  onChunk(m: BlobChunkMessage): void {
    const p = this.#pending.get(m.requestId);
    this.#pending.delete(m.requestId);
    p?.resolve(m);
  }

  /** The session closed: every read in progress fails. */
  disconnected(): void {
    for (const p of this.#pending.values()) p.reject(new BlobReadError('disconnected', 'the session with the manager closed during a blob read'));
    this.#pending.clear();
  }

  #request(source: BlobSource, offset: number, signal?: AbortSignal): Promise<BlobChunkMessage> {
    const requestId = `b${++this.#next}`;
    return new Promise<BlobChunkMessage>((resolve, reject) => {
      const onAbort = (): void => {
        this.#pending.delete(requestId);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const done = <T>(f: (v: T) => void) => (v: T): void => {
        signal?.removeEventListener('abort', onAbort);
        f(v);
      };
      this.#pending.set(requestId, { resolve: done(resolve), reject: done(reject) });
      if (!this.#send({ type: 'blob-read', requestId, offset, ...source })) {
        this.#pending.delete(requestId);
        signal?.removeEventListener('abort', onAbort);
        reject(new BlobReadError('disconnected', 'not connected to a manager'));
      }
    });
  }
}
