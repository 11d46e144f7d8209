import { request } from 'node:https';
import { parseApiErrorBody } from '../api/errors.ts';
import { caDigest, parseJoinToken, type JoinResponse, type RenewResponse } from '../api/join.ts';
import { certificateInfo, generateKeyAndCsr, issuedBy, loadCredential, saveCredential, tlsClientOptions, type Credential } from './credentials.ts';
import { formatManagerAddress, JoinError, type ManagerAddress } from './manager-address.ts';
import { saveNodeId } from './node-id.ts';

export { DEFAULT_MANAGER_PORT, formatManagerAddress, isJoinError, JoinError, parseManagerAddress, type JoinErrorCode, type ManagerAddress } from './manager-address.ts';

/**
 * Joining a cluster, from the node's side. The token carries the digest of the cluster's root
 * CA: the node fetches the CA from the manager without trusting it, compares digests, and only
 * then sends the token, over TLS pinned to that CA. The manager signs the node's CSR; the node
 * keeps key, certificate and CA in its data dir and renews the certificate with it.
 */

/** What one HTTPS call sends; `tls` absent means "do not verify the server" (only `GET /v1/ca`). */
interface Call {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: unknown;
  readonly tls?: ReturnType<typeof tlsClientOptions>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal | undefined;
  /** For messages: "the join", "the renewal". */
  readonly what?: string;
}

function call<T>(addr: ManagerAddress, c: Call): Promise<T> {
  const where = `https://${formatManagerAddress(addr)}`;
  const payload = c.body === undefined ? undefined : JSON.stringify(c.body);
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        host: addr.host,
        port: addr.port,
        method: c.method,
        path: c.path,
        headers: { accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        timeout: c.timeoutMs ?? 10_000,
        ...(c.tls ?? { rejectUnauthorized: false }),
        ...(c.signal ? { signal: c.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('error', (err) => reject(new JoinError('unreachable', `reading the answer of ${where} failed: ${err.message}`, { cause: err })));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            reject(new JoinError('protocol', `${where} is not a Flotilla manager (HTTP ${res.statusCode ?? 0}: ${text.slice(0, 100)})`));
            return;
          }
          const status = res.statusCode ?? 0;
          if (status < 400) {
            resolve(body as T);
            return;
          }
          const e = parseApiErrorBody(body);
          const message = e?.message ?? `HTTP ${status}`;
          reject(new JoinError(status === 401 || status === 403 ? 'refused' : 'protocol', `the manager at ${where} refused ${c.what ?? 'the request'}: ${message}`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${c.timeoutMs ?? 10_000} ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.name === 'AbortError') reject(err);
      else if (err.code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || err.code === 'ERR_TLS_CERT_ALTNAME_INVALID' || /certificate/i.test(err.message)) {
        reject(new JoinError('ca_mismatch', `the manager at ${where} did not prove it belongs to the cluster: ${err.message}`, { cause: err }));
      } else reject(new JoinError('unreachable', `cannot reach the manager at ${where}: ${err.code ?? err.message}`, { cause: err }));
    });
    req.end(payload);
  });
}

/** `GET /v1/ca` without verifying the server (the caller checks the digest). */
export async function fetchClusterCa(addr: ManagerAddress, signal?: AbortSignal): Promise<string> {
  const body = await call<{ certificate?: unknown }>(addr, { method: 'GET', path: '/v1/ca', signal });
  if (typeof body.certificate !== 'string') throw new JoinError('protocol', `https://${formatManagerAddress(addr)}/v1/ca did not return a certificate`);
  return body.certificate;
}

/** The outcome of a join: the node's identity and credential. */
export interface Joined {
  readonly nodeId: string;
  readonly role: 'worker' | 'manager';
  readonly credential: Credential;
}

/**
 * Joins the cluster at `addr` with `token`: checks the manager's CA against the token's digest
 * before sending anything, then sends a CSR and the token over TLS pinned to that CA. Saves
 * nothing (see `ensureCredential`).
 */
export async function joinCluster(addr: ManagerAddress, token: string, hostname: string, signal?: AbortSignal): Promise<Joined> {
  const parsed = parseJoinToken(token);
  if ('error' in parsed) throw new JoinError('invalid_argument', parsed.error);
  const ca = await fetchClusterCa(addr, signal);
  if (caDigest(ca) !== parsed.caDigest) {
    throw new JoinError('ca_mismatch', `the manager at ${formatManagerAddress(addr)} is not the cluster this token belongs to (CA fingerprint mismatch)`);
  }
  const { key, csr } = await generateKeyAndCsr(hostname);
  const res = await call<JoinResponse>(addr, { method: 'POST', path: '/v1/join', body: { token: token.trim(), csr, hostname }, tls: tlsClientOptions(ca), signal, what: 'the join' });
  if (typeof res.certificate !== 'string' || typeof res.nodeId !== 'string' || !issuedBy(res.certificate, ca)) {
    throw new JoinError('protocol', `the manager at ${formatManagerAddress(addr)} answered the join with a certificate not signed by the cluster CA`);
  }
  return { nodeId: res.nodeId, role: res.role, credential: { key, cert: res.certificate, ca } };
}

/** `POST /v1/renew`: a new key and certificate, authenticated by the current certificate. */
export async function renewCertificate(addr: ManagerAddress, current: Credential, signal?: AbortSignal): Promise<Credential> {
  const { commonName } = certificateInfo(current.cert);
  const { key, csr } = await generateKeyAndCsr(commonName);
  const res = await call<RenewResponse>(addr, { method: 'POST', path: '/v1/renew', body: { csr }, tls: tlsClientOptions(current.ca, current), signal, what: 'the renewal' });
  if (typeof res.certificate !== 'string' || !issuedBy(res.certificate, current.ca)) {
    throw new JoinError('protocol', `the manager at ${formatManagerAddress(addr)} answered the renewal with a certificate not signed by the cluster CA`);
  }
  return { key, cert: res.certificate, ca: current.ca };
}

/** What `ensureCredential` needs. */
export interface EnsureCredentialOptions {
  readonly dataDir: string;
  readonly manager: ManagerAddress;
  /** Needed only when the data dir holds no credential yet. */
  readonly token?: string | undefined;
  readonly hostname: string;
  readonly now: number;
  readonly signal?: AbortSignal;
}

/**
 * The node's credential: the one stored in the data dir (a restarted node stays the same
 * node), else a fresh join with the token (also when the stored certificate expired). Saves
 * credential and node id after a join.
 */
export async function ensureCredential(o: EnsureCredentialOptions): Promise<{ nodeId: string; role: string; credential: Credential; joined: boolean }> {
  const stored = await loadCredential(o.dataDir);
  if (stored) {
    const info = certificateInfo(stored.cert);
    if (o.token !== undefined) {
      const parsed = parseJoinToken(o.token);
      if (!('error' in parsed) && parsed.caDigest !== caDigest(stored.ca)) {
        throw new JoinError('credential', `the data dir ${o.dataDir} already holds the credential of another cluster: use another --data-dir, or remove its tls/ folder to join this one`);
      }
    }
    if (info.notAfter > o.now) return { nodeId: info.commonName, role: info.role, credential: stored, joined: false };
    // An expired certificate cannot be renewed; with a token the node joins again (as a new node).
    if (o.token === undefined || o.token === '') {
      throw new JoinError('credential', `this node's certificate expired at ${new Date(info.notAfter).toISOString()}: join again with --token (it becomes a new node)`);
    }
  }
  if (o.token === undefined || o.token === '') {
    throw new JoinError('invalid_argument', `this node has not joined a cluster yet (no credential in ${o.dataDir}): pass --token, as \`flotilla token worker\` prints it`);
  }
  const joined = await joinCluster(o.manager, o.token, o.hostname, o.signal);
  await saveCredential(o.dataDir, joined.credential);
  await saveNodeId(o.dataDir, joined.nodeId);
  return { ...joined, joined: true };
}
