/**
 * Parsers for the API's two streaming formats, over any async iterable of byte chunks (an
 * `IncomingMessage`): newline-delimited JSON (logs) and Server-Sent Events (events).
 */

/** Splits a byte stream into text lines (without the newline); a final unterminated line is yielded too. */
export async function* lines(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of chunks) {
    buffered += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl).replace(/\r$/, '');
      buffered = buffered.slice(nl + 1);
      yield line;
    }
  }
  buffered += decoder.decode();
  if (buffered !== '') yield buffered;
}

/** Parses newline-delimited JSON, skipping blank lines. */
export async function* ndjson<T>(chunks: AsyncIterable<Uint8Array | string>): AsyncGenerator<T> {
  for await (const line of lines(chunks)) {
    if (line.trim() === '') continue;
    yield JSON.parse(line) as T;
  }
}

/** One Server-Sent Event. `event` is `message` unless the server named it. */
export interface SseMessage {
  readonly id: string | undefined;
  readonly event: string;
  readonly data: string;
}

/** Parses a `text/event-stream` body per the HTML spec's rules (`retry:` ignored; comments only to `onComment`, without the colon). */
export async function* sse(chunks: AsyncIterable<Uint8Array | string>, onComment?: (text: string) => void): AsyncGenerator<SseMessage> {
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  for await (const line of lines(chunks)) {
    if (line === '') {
      if (data.length > 0) yield { id, event: event || 'message', data: data.join('\n') };
      event = '';
      data = [];
      continue;
    }
    if (line.startsWith(':')) {
      onComment?.(line.slice(1).trimStart());
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
  }
}
