import { open } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { Clock } from '../../../lib/clock.ts';
import type { LogLine } from '../driver.ts';

/** One output file of a task and the stream it holds. */
export interface LogFile {
  readonly path: string;
  readonly stream: LogLine['stream'];
}

/**
 * Reads a task's log files: what they hold now (the last `tail` lines when set: all of stdout's
 * kept lines come before stderr's, since plain files do not record how the two interleave),
 * then, with `follow`, new lines as they are written until `isDone()` says the process exited
 * and the files are drained, or until `signal` aborts (which ends the iteration quietly).
 */
export async function* readLogFiles(
  files: readonly LogFile[],
  options: { readonly follow: boolean; readonly tail?: number },
  deps: { readonly clock: Clock; readonly pollMs: number; readonly isDone: () => Promise<boolean> },
  signal?: AbortSignal,
): AsyncGenerator<LogLine> {
  const readers = files.map((f) => new Reader(f));
  const first: LogLine[] = [];
  for (const r of readers) first.push(...(await r.readNew(false)));
  for (const l of options.tail === undefined ? first : first.slice(Math.max(0, first.length - options.tail))) {
    yield l;
  }
  if (!options.follow) return;
  for (;;) {
    if (signal?.aborted) return;
    // Check before reading, so lines written just before the exit are still read below.
    const done = await deps.isDone();
    let got = false;
    for (const r of readers) {
      for (const l of await r.readNew(done)) {
        got = true;
        yield l;
        if (signal?.aborted) return;
      }
    }
    if (done) return;
    if (!got) {
      try {
        await deps.clock.sleep(deps.pollMs, signal);
      } catch {
        return;
      }
    }
  }
}

/** Reads one file from where it last stopped, keeping an unfinished last line for later. */
class Reader {
  readonly #file: LogFile;
  #offset = 0;
  #partial = '';
  readonly #decoder = new StringDecoder('utf8');

  constructor(file: LogFile) {
    this.#file = file;
  }

  /** Complete new lines; with `flush`, the unfinished last line too. */
  async readNew(flush: boolean): Promise<LogLine[]> {
    let chunk = '';
    const fh = await open(this.#file.path, 'r').catch(() => undefined);
    if (fh) {
      try {
        const { size } = await fh.stat();
        if (size > this.#offset) {
          const buf = Buffer.alloc(size - this.#offset);
          const { bytesRead } = await fh.read(buf, 0, buf.length, this.#offset);
          this.#offset += bytesRead;
          chunk = this.#decoder.write(buf.subarray(0, bytesRead));
        }
      } finally {
        await fh.close();
      }
    }
    const text = this.#partial + chunk;
    const parts = text.split('\n');
    this.#partial = parts.pop() ?? '';
    if (flush && this.#partial !== '') {
      parts.push(this.#partial);
      this.#partial = '';
    }
    return parts.map((line) => ({ stream: this.#file.stream, line }));
  }
}
