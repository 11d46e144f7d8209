import type { IncomingMessage } from 'node:http';
import { clusterServerIdentity } from '../lib/tls-identity.ts';
import { ClientError } from './errors.ts';
import { describeTarget, type Target, type TlsMaterial } from './target.ts';
import { errorFromResponse, readText, type RawRequest, type Transport } from './wire.ts';

export { describeTarget, parseHost, type Target, type TlsMaterial } from './target.ts';
export type { RawRequest } from './wire.ts';

// Taken as CommonJS modules, not imported: importing `node:http` as an ES module builds a facade
// of all its exports, whose lazy getters load Node's whole `fetch` (undici), about a third of
// what `flotilla service ls` costs to start.
const { request: httpRequest } = process.getBuiltinModule('node:http');
const { request: httpsRequest } = process.getBuiltinModule('node:https');

/**
 * The client's Node transport: `node:http` to a unix socket or an `http://` URL, `node:https`
 * to an `https://` one, trusting only the cluster CA and presenting the admin client
 * certificate (or a bearer token).
 */
export const nodeTransport: Transport = {
  async send(target, req) {
    const res = await send(target, req);
    return { status: res.statusCode ?? 0, body: res };
  },
};

/**
 * Sends one request and resolves with the response once its headers arrive (the body is
 * still to be read). Connection failures become `unreachable`; error responses become a
 * `ClientError` with the API's code and message.
 */
export function send(target: Target, req: RawRequest): Promise<IncomingMessage> {
  const payload = req.body !== undefined ? JSON.stringify(req.body) : req.raw === undefined ? undefined : Buffer.from(req.raw.data.buffer, req.raw.data.byteOffset, req.raw.data.byteLength);
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if ('url' in target && target.token !== undefined) headers['authorization'] = `Bearer ${target.token}`;
  if (payload !== undefined) {
    headers['content-type'] = req.body === undefined && req.raw ? req.raw.contentType : 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise<IncomingMessage>((resolve, reject) => {
    const options =
      'socketPath' in target
        ? { socketPath: target.socketPath, path: req.path, method: req.method, headers }
        : { ...urlParts(target.url), path: req.path, method: req.method, headers };
    const secure = 'url' in target && target.url.startsWith('https:');
    const tls = secure && 'url' in target ? tlsOptions(target.tls) : {};
    const request = secure ? httpsRequest : httpRequest;
    const r = request({ ...options, ...tls, ...(req.signal ? { signal: req.signal } : {}) }, (res) => {
      const status = res.statusCode ?? 0;
      if (status < 400) {
        resolve(res);
        return;
      }
      readBody(res).then(
        (text) => reject(errorFromResponse(status, text, target)),
        (err: unknown) => reject(new ClientError('protocol', `reading the error response failed: ${String(err)}`, { status, cause: err })),
      );
    });
    // Whether the connection opened: an error after that (a timeout included) may have cut a
    // request the manager got, so it is never a connect failure (`ClientError.connected`).
    let connected = false;
    r.on('socket', (socket) => {
      if (!socket.connecting) connected = true;
      else socket.once(secure ? 'secureConnect' : 'connect', () => (connected = true));
    });
    const connectTimeoutMs = req.connectTimeoutMs;
    if (connectTimeoutMs !== undefined && 'url' in target) {
      r.on('socket', (socket) => {
        if (!socket.connecting) return;
        const timer = setTimeout(() => r.destroy(Object.assign(new Error(`connect timed out after ${connectTimeoutMs} ms`), { code: 'ETIMEDOUT' })), connectTimeoutMs);
        const clear = (): void => clearTimeout(timer);
        socket.once('connect', clear);
        socket.once('close', clear);
      });
    }
    r.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') reject(err);
      else if (secure && isTlsVerifyError(err)) {
        reject(
          new ClientError('protocol', `cannot verify the manager at ${describeTarget(target)}: ${err.message} (${'url' in target && target.tls ? 'the CA of this context is not the cluster’s' : 'no cluster CA to check it with'}: import the cluster’s admin/context.json with \`flotilla context import\`)`, { cause: err }),
        );
      } else if (['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENOTFOUND'].includes(err.code ?? '')) {
        reject(new ClientError('unreachable', `cannot reach the manager at ${describeTarget(target)}: ${err.code}`, { cause: err, connected }));
      } else {
        reject(new ClientError('unreachable', `request to ${describeTarget(target)} failed: ${err.message}`, { cause: err, connected }));
      }
    });
    r.end(payload);
  });
}

function urlParts(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : u.protocol === 'https:' ? 4280 : 80 };
}

/** TLS options of an https target: the cluster CA only, and the client certificate if any. */
function tlsOptions(tls: TlsMaterial | undefined): Record<string, unknown> {
  if (!tls) return {};
  return {
    ca: tls.ca,
    ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
    checkServerIdentity: clusterServerIdentity,
  };
}

const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_SIGNATURE_FAILURE',
]);

function isTlsVerifyError(err: NodeJS.ErrnoException): boolean {
  return TLS_VERIFY_CODES.has(err.code ?? '');
}

/** Reads a whole response body as text. */
export function readBody(res: IncomingMessage): Promise<string> {
  return readText(res);
}
