import type { LogLine } from '../../api/log-line.ts';
import type { DispatcherError } from './errors.ts';

/**
 * Lines of one log request as they arrive from an agent, consumed as an async iterable. The
 * agent pushes; lines queue here until read (follow streams are as fast as the reader).
 */
export class LogStream {
  #lines: LogLine[] = [];
  #ended = false;
  #error: DispatcherError | undefined;
  #wake: (() => void) | undefined;

  get ended(): boolean {
    return this.#ended;
  }

  push(lines: readonly LogLine[]): void {
    if (this.#ended) return;
    for (const l of lines) this.#lines.push(l);
    this.#notify();
  }

  /** Ends the stream; with `error`, the reader sees it after the lines already queued. */
  end(error?: DispatcherError): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#notify();
  }

  async *read(signal?: AbortSignal): AsyncGenerator<LogLine> {
    const onAbort = (): void => this.end();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (signal?.aborted) return;
        if (this.#lines.length > 0) {
          const batch = this.#lines;
          this.#lines = [];
          for (const l of batch) yield l;
          continue;
        }
        if (this.#ended) {
          if (this.#error) throw this.#error;
          return;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}
