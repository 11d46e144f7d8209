import { parseApiErrorBody } from '../api/errors.ts';
import { ClientError } from './errors.ts';
import type { Target } from './target.ts';

/**
 * What a transport does for the client: one HTTP exchange. Two implementations: `transport.ts`
 * (`node:http`/`node:https`: unix sockets, the cluster CA, client certificates) and
 * `fetch-transport.ts` (the global `fetch`: browsers, and any runtime that has it). Nothing
 * here imports a Node module.
 */

export interface RawRequest {
  readonly method: string;
  /** Path and query, starting with `/v1/`. */
  readonly path: string;
  readonly body?: unknown;
  /** A binary body instead of JSON (a build context), with its content type. */
  readonly raw?: { readonly contentType: string; readonly data: Uint8Array };
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
  /**
   * Give up connecting after this long (an `unreachable` error whose cause has code
   * `ETIMEDOUT`), so the client can try another manager. Node transport only; default: the
   * system's connect timeout.
   */
  readonly connectTimeoutMs?: number | undefined;
}

/** A response whose status is below 400; its body is still to be read. */
export interface RawResponse {
  readonly status: number;
  readonly body: AsyncIterable<Uint8Array>;
}

export interface Transport {
  /**
   * Sends one request and resolves once the response headers arrive. Connection failures
   * reject with `unreachable`; error responses with a `ClientError` carrying the API's code,
   * message and details; an abort through `signal` with the platform's `AbortError`.
   */
  send(target: Target, req: RawRequest): Promise<RawResponse>;
}

/** Reads a whole body as text. */
export async function readText(body: AsyncIterable<Uint8Array | string>): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  for await (const c of body) text += typeof c === 'string' ? c : decoder.decode(c, { stream: true });
  return text + decoder.decode();
}

/** The `ClientError` of an error response (status ≥ 400) and its body text. */
export function errorFromResponse(status: number, text: string, target: Target): ClientError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const e = parseApiErrorBody(body);
  if (e && status === 401 && 'url' in target) {
    // Said from the CLI user's side: which manager refused, and the server's reason.
    return new ClientError(e.code, `the manager at ${target.url} refused the request: ${e.message}`, { status, details: e.details });
  }
  if (e) return new ClientError(e.code, e.message, { status, details: e.details });
  return new ClientError('protocol', `unexpected HTTP ${status} response: ${text.slice(0, 200)}`, { status });
}
