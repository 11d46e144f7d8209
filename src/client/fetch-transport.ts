import { ClientError } from './errors.ts';
import { describeTarget, type Target } from './target.ts';
import { errorFromResponse, type RawRequest, type RawResponse, type Transport } from './wire.ts';

/**
 * The client's transport over the global `fetch`, for browsers (the dashboard) and any runtime
 * that has `fetch`; it imports nothing from Node. It reaches a manager by URL only (a unix
 * socket needs the Node transport). TLS is the platform's: the browser verifies the manager and
 * presents a client certificate if it has one, so a target's `tls` material is not used here; a
 * bearer `token` is sent. Streams (logs, events) are read from the response's `ReadableStream`.
 */
export const fetchTransport: Transport = {
  async send(target: Target, req: RawRequest): Promise<RawResponse> {
    if (!('url' in target)) {
      throw new ClientError('invalid_argument', `the fetch transport reaches a manager by URL, not by the unix socket ${target.socketPath}: use the node transport`);
    }
    const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
    if (target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`;
    const init: RequestInit = { method: req.method, headers };
    if (req.body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(req.body);
    } else if (req.raw !== undefined) {
      headers['content-type'] = req.raw.contentType;
      init.body = req.raw.data as Uint8Array<ArrayBuffer>;
    }
    if (req.signal) init.signal = req.signal;
    let res: Response;
    try {
      res = await fetch(`${target.url}${req.path}`, init);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
      const why = typeof cause?.code === 'string' ? cause.code : typeof cause?.message === 'string' ? cause.message : (err as Error).message;
      throw new ClientError('unreachable', `cannot reach the manager at ${describeTarget(target)}: ${why}`, { cause: err });
    }
    if (res.status >= 400) throw errorFromResponse(res.status, await res.text(), target);
    return { status: res.status, body: chunks(res.body) };
  },
};

/** A `ReadableStream`'s chunks as an async iterable (not every browser iterates streams natively). */
async function* chunks(stream: ReadableStream<Uint8Array> | null): AsyncGenerator<Uint8Array> {
  if (!stream) return;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    // A consumer that stops early (an aborted event stream) releases the connection.
    await reader.cancel().catch(() => undefined);
  }
}
