import { mkdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { AGENT_SESSION_PATH, PROTOCOL_VERSION } from '../../src/api/agent-protocol.ts';
import { run } from './proc.ts';

/**
 * Probes of the manager's HTTPS port from the test process (through the bed's probe link),
 * with or without a client certificate: what a stranger on the network can and cannot do.
 */

/** TLS material for a probe; all optional (no `cert`: no client certificate). */
export interface ProbeTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Reads `key.pem`, `cert.pem` and `ca.pem` from a folder (an agent's `tls/`, the admin's). */
export function readTlsDir(dir: string): Required<ProbeTls> {
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  return { key: read('key.pem'), cert: read('cert.pem'), ca: read('ca.pem') };
}

function tlsOptions(tls: ProbeTls): Record<string, unknown> {
  return {
    ...(tls.ca ? { ca: tls.ca } : { rejectUnauthorized: false }),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    // The manager's certificate names its advertise address; `ca` pins the cluster.
    checkServerIdentity: () => undefined,
  };
}

/** One HTTPS request; resolves with the status and the body text. */
export function httpsRequest(
  baseUrl: string,
  method: string,
  path: string,
  tls: ProbeTls = {},
  options: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string }> {
  const url = new URL(path, baseUrl);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        timeout: 10_000,
        headers: { accept: 'application/json', ...(payload ? { 'content-type': 'application/json' } : {}), ...options.headers },
        ...tlsOptions(tls),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url.href} within 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** How an agent-session attempt ended. */
export interface SessionOutcome {
  /** True only when the manager welcomed the session. */
  readonly accepted: boolean;
  /**
   * What happened, for messages: `HTTP 401`, `closed 4401 node removed`, `error: <the
   * manager's message>`, `welcome`; `transport error: …` when the connection failed on the
   * client's side (e.g. the server's certificate did not verify), which is no refusal.
   */
  readonly detail: string;
}

/**
 * Opens the agent session WebSocket with `tls`, says hello as `nodeId` (when given), and
 * reports whether the manager welcomed it (within 10 s) or refused it (HTTP error on the
 * upgrade, TLS failure, an `error` message or a close).
 */
export function probeSession(baseUrl: string, tls: ProbeTls, nodeId?: string): Promise<SessionOutcome> {
  const url = `${baseUrl.replace(/^https:/, 'wss:')}${AGENT_SESSION_PATH}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout: 10_000, ...tlsOptions(tls) });
    let settled = false;
    const done = (accepted: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      resolve({ accepted, detail });
    };
    const timer = setTimeout(() => done(false, 'no answer within 10 s'), 10_000);
    ws.on('unexpected-response', (_req, res) => done(false, `HTTP ${res.statusCode ?? 0}`));
    ws.on('error', (err) => done(false, `transport error: ${err.message}`));
    ws.on('close', (code, reason) => done(false, `closed ${code} ${reason.toString()}`));
    ws.on('open', () => {
      ws.send(
        JSON.stringify({
          type: 'hello',
          protocol: PROTOCOL_VERSION,
          ...(nodeId ? { nodeId } : {}),
          description: { hostname: 'probe', platform: { os: 'linux', arch: 'x64' }, resources: { nanoCpus: 1e9, memoryBytes: 1 << 30 }, drivers: ['fake'] },
        }),
      );
    });
    ws.on('message', (data: Buffer) => {
      let type = '';
      let message = '';
      try {
        const m = JSON.parse(data.toString()) as { type?: string; message?: string };
        type = m.type ?? '';
        message = m.message ?? '';
      } catch {
        type = 'garbage';
      }
      if (type === 'welcome') done(true, 'welcome');
      else done(false, `${type}${message ? `: ${message}` : ''}`);
    });
  });
}

/**
 * A credential from a CA that is not the cluster's (made with openssl): a certificate that
 * looks like a node's (`CN=nodeId, OU=worker, O=organization`) but is signed by a stranger.
 */
export async function foreignCredential(dir: string, nodeId: string, organization: string): Promise<Required<ProbeTls>> {
  mkdirSync(dir, { recursive: true });
  const p = (f: string): string => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-subj', '/CN=stranger-ca', '-days', '1']);
  await run('openssl', ['req', ...ec, '-keyout', p('key.pem'), '-out', p('csr.pem'), '-subj', `/O=${organization}/OU=worker/CN=${nodeId}`]);
  await run('openssl', ['x509', '-req', '-in', p('csr.pem'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('cert.pem'), '-days', '1']);
  return readTlsDir(dir);
}
