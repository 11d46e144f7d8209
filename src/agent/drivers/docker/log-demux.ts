import { StringDecoder } from 'node:string_decoder';
import type { LogLine } from '../driver.ts';

/** `2026-01-01T00:00:00.123456789Z ` at the start of a frame when logs ask for timestamps. */
const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) /;

interface StreamState {
  readonly decoder: StringDecoder;
  partial: string;
  time: string | undefined;
}

/**
 * Turns Docker's multiplexed log stream (8-byte frame headers: stream type, three zero bytes,
 * big-endian payload size) into `LogLine`s. Frames may arrive split or merged in any way;
 * each stream keeps its unfinished line until its newline arrives. With `timestamps`, each
 * frame starts with the engine's RFC 3339 time, which becomes the line's `time` (a line
 * the engine split into several frames keeps the first frame's time).
 */
export class LogDemuxer {
  readonly #timestamps: boolean;
  #pending: Buffer = Buffer.alloc(0);
  readonly #streams = {
    stdout: { decoder: new StringDecoder('utf8'), partial: '', time: undefined } as StreamState,
    stderr: { decoder: new StringDecoder('utf8'), partial: '', time: undefined } as StreamState,
  };

  constructor(options: { readonly timestamps: boolean }) {
    this.#timestamps = options.timestamps;
  }

  /** Feeds bytes; returns the lines they complete. */
  push(chunk: Buffer): LogLine[] {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const out: LogLine[] = [];
    let at = 0;
    while (this.#pending.length - at >= 8) {
      const type = this.#pending[at];
      const size = this.#pending.readUInt32BE(at + 4);
      if (this.#pending.length - at - 8 < size) break;
      const payload = this.#pending.subarray(at + 8, at + 8 + size);
      at += 8 + size;
      // 1 = stdout, 2 = stderr; 0 (stdin) never carries output.
      if (type === 1 || type === 2) this.#frame(type === 1 ? 'stdout' : 'stderr', payload, out);
    }
    this.#pending = this.#pending.subarray(at);
    return out;
  }

  /** Lines still unfinished when the stream ended. */
  end(): LogLine[] {
    const out: LogLine[] = [];
    for (const stream of ['stdout', 'stderr'] as const) {
      const s = this.#streams[stream];
      const rest = s.partial + s.decoder.end();
      if (rest !== '') out.push(line(stream, rest, s.time));
      s.partial = '';
      s.time = undefined;
    }
    return out;
  }

  #frame(stream: LogLine['stream'], payload: Buffer, out: LogLine[]): void {
    const s = this.#streams[stream];
    let text = s.decoder.write(payload);
    if (this.#timestamps) {
      const m = TIMESTAMP.exec(text);
      if (m?.[1]) {
        text = text.slice(m[0].length);
        if (s.partial === '') s.time = m[1];
      }
    }
    const parts = (s.partial + text).split('\n');
    s.partial = parts.pop() ?? '';
    for (const p of parts) {
      out.push(line(stream, p, s.time));
    }
    if (s.partial === '') s.time = undefined;
  }
}

function line(stream: LogLine['stream'], text: string, time: string | undefined): LogLine {
  const clean = text.endsWith('\r') ? text.slice(0, -1) : text;
  if (time === undefined) return { stream, line: clean };
  const ms = Date.parse(time);
  return { stream, line: clean, time: Number.isNaN(ms) ? time : new Date(ms).toISOString() };
}

/** One frame of Docker's stream format (for tests and fakes of the engine). */
export function encodeFrame(stream: LogLine['stream'], payload: string): Buffer {
  const body = Buffer.from(payload, 'utf8');
  const header = Buffer.alloc(8);
  header[0] = stream === 'stdout' ? 1 : 2;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}
