import { request as httpRequest, type IncomingMessage } from 'node:http';
import { parseApiErrorBody } from '../api/errors.ts';
import { ClientError } from './errors.ts';

/** Where the manager's API is: a unix socket, or an `http://host:port` base URL. */
export type Target = { readonly socketPath: string } | { readonly url: string };

/**
 * Reads `unix:///path/to/sock`, `http://host:port` or a bare socket path into a `Target`
 * (the forms `--host` and `FLOTILLA_HOST` take). Throws a `ClientError` for anything else.
 */
export function parseHost(host: string): Target {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  if (/^https?:\/\//.test(host)) {
    if (host.startsWith('https:')) throw new ClientError('invalid_argument', `https is not supported yet: use http:// or unix:// (got ${host})`);
    return { url: host.replace(/\/+$/, '') };
  }
  if (/^tcp:\/\//.test(host)) return { url: `http://${host.slice('tcp://'.length).replace(/\/+$/, '')}` };
  throw new ClientError('invalid_argument', `bad host "${host}": expected unix:///path/to/flotilla.sock or http://host:port`);
}

/** The target as users write it, for messages. */
export function describeTarget(t: Target): string {
  return 'socketPath' in t ? t.socketPath : t.url;
}

export interface RawRequest {
  readonly method: string;
  /** Path and query, starting with `/v1/`. */
  readonly path: string;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
}

/**
 * Sends one request and resolves with the response once its headers arrive (the body is
 * still to be read). Connection failures become `unreachable`; error responses become a
 * `ClientError` with the API's code and message.
 */
export function send(target: Target, req: RawRequest): Promise<IncomingMessage> {
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise<IncomingMessage>((resolve, reject) => {
    const options =
      'socketPath' in target
        ? { socketPath: target.socketPath, path: req.path, method: req.method, headers }
        : { ...urlParts(target.url), path: req.path, method: req.method, headers };
    const r = httpRequest({ ...options, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 400) {
        resolve(res);
        return;
      }
      readBody(res).then(
        (text) => reject(errorFromResponse(status, text)),
        (err: unknown) => reject(new ClientError('protocol', `reading the error response failed: ${String(err)}`, { status, cause: err })),
      );
    });
    r.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') reject(err);
      else if (['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENOTFOUND'].includes(err.code ?? '')) {
        reject(new ClientError('unreachable', `cannot reach the manager at ${describeTarget(target)}: ${err.code}`, { cause: err }));
      } else {
        reject(new ClientError('unreachable', `request to ${describeTarget(target)} failed: ${err.message}`, { cause: err }));
      }
    });
    r.end(payload);
  });
}

function urlParts(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 80 };
}

/** Reads a whole response body as text. */
export async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function errorFromResponse(status: number, text: string): ClientError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const e = parseApiErrorBody(body);
  if (e) return new ClientError(e.code, e.message, { status, details: e.details });
  return new ClientError('protocol', `unexpected HTTP ${status} response: ${text.slice(0, 200)}`, { status });
}
