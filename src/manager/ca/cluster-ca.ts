import { randomBytes, type X509Certificate } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Cluster, PeerIdentity } from '../../api/cluster.ts';
import { ApiError } from '../../api/errors.ts';
import type { JoinRequest, JoinResponse, RenewResponse, TokensResponse } from '../../api/join.ts';
import { newTokenSecret } from '../../api/join.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import { newId } from '../../lib/ids.ts';
import { Lifecycle } from '../../lib/lifecycle.ts';
import { MANAGER_SERVER_CN } from '../../lib/tls-identity.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../store/store.ts';
import { CertificateAuthority, publicKeyFromCsr } from './authority.ts';
import { CaError, isCaError } from './errors.ts';
import { caDir, legacyKeyPath, readAdminFiles, readLegacyCaFiles, removeLegacyCaKey, writeAdminFiles, writeCaCertificate, type AdminCredential } from './files.ts';
import { ADMIN_TOKEN_KEY, checkBearerToken, checkJoinToken, joinTokens, readTokenSecrets, sha256, storeTokenSecret, storeTokenSecrets, type TokenRole } from './tokens.ts';
import { generateKeyPair, privateKeyPem } from './x509.ts';
import type { KeyVault } from '../../store/key-vault.ts';

export interface ClusterCaDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Where the CA's private key is kept: wrapped in the store (the manager's keyring). */
  readonly keys: KeyVault;
}


/** The CA key's id among the store's wrapped keys (`clusterKey`): PKCS#8 PEM. */
export const CA_KEY_NAME = 'ca';

/** Public options of `ClusterCa`. */
export interface ClusterCaOptions {
  /** The manager's data dir: `ca/` and `admin/` live there. */
  dataDir: string;
  /** The address nodes and clients reach this manager at (IP or DNS name). */
  advertiseAddr: string;
  /** The HTTPS listener: its host goes into the server certificate, its port into `admin/context.json`. */
  listen: { host: string; port: number };
  /** Lifetime of node and server certificates. Default 90 days. */
  certLifetimeMs?: number;
  /** Lifetime of the admin client certificate. Default 365 days. */
  adminCertLifetimeMs?: number;
  /**
   * This manager's id (`<dataDir>/manager-id`): with it the CA also issues the manager's peer
   * certificate (`peerCredentials`), with which it forwards requests to the leader. Absent: none.
   */
  managerId?: string;
  /**
   * This data dir has just joined the cluster with the manager join token: it takes the
   * cluster's admin token instead of making a new one (a missing `admin/token` otherwise means
   * "rotate it"). Default false.
   */
  joined?: boolean;
}

/** The manager's TLS material: its key, its certificate (from the cluster CA) and the CA. */
export interface ServerCredentials {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

const DAY_MS = 24 * 3600_000;
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);
const HOSTNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;

/**
 * The cluster CA as a manager component: creates the cluster on first start (the cluster
 * object with the root certificate and both join token secrets, and the root key wrapped, in
 * the store; the certificate in `<dataDir>/ca/ca.pem`; the admin credential in
 * `<dataDir>/admin/`), or loads it (moving an older data dir's `ca/ca.key` into the store);
 * then admits nodes (`join`), renews their certificates, rotates tokens, and tells who a TLS
 * peer is (`identify`). It also keeps the manager's own server certificate fresh. See README.md.
 */
export class ClusterCa {
  readonly #deps: ClusterCaDeps;
  readonly #log: Logger;
  readonly #o: Required<ClusterCaOptions>;
  #ca: CertificateAuthority | undefined;
  #server: ServerCredentials | undefined;
  #peer: ServerCredentials | undefined;
  #serverTimer: TimerHandle | undefined;
  readonly #serverListeners = new Set<(c: ServerCredentials) => void>();
  readonly #lifecycle = new Lifecycle('cluster CA');

  constructor(deps: ClusterCaDeps, options: ClusterCaOptions) {
    this.#deps = deps;
    this.#log = deps.logger.child({ component: 'ca' });
    this.#o = { certLifetimeMs: 90 * DAY_MS, adminCertLifetimeMs: 365 * DAY_MS, joined: false, managerId: '', ...options };
    for (const k of ['certLifetimeMs', 'adminCertLifetimeMs'] as const) {
      const v = this.#o[k];
      if (!(Number.isFinite(v) && v >= 1000)) throw new RangeError(`CA option ${k} must be at least 1000 ms, got ${v}`);
    }
  }

  /** The root CA certificate (PEM). */
  get caCertificate(): string {
    return this.#authority().certificate;
  }

  get clusterId(): string {
    return this.#authority().clusterId;
  }

  /** The manager's current server credentials (replaced at 2/3 of their lifetime). */
  get serverCredentials(): ServerCredentials {
    if (!this.#server) throw new Error('cluster CA not started');
    return this.#server;
  }

  /**
   * The manager's peer client credentials (`CN=<managerId>, OU=peer`, client auth only), renewed
   * with the server certificate: what it presents when it forwards a request to the leader
   * (`identify` says `peer`). Undefined without the `managerId` option or before start.
   */
  get peerCredentials(): ServerCredentials | undefined {
    return this.#peer;
  }

  /** Calls `fn` with each renewed server credential; returns the unsubscribe function. */
  onServerCredentials(fn: (c: ServerCredentials) => void): () => void {
    this.#serverListeners.add(fn);
    return () => this.#serverListeners.delete(fn);
  }

  async start(): Promise<void> {
    const started = await this.#lifecycle.startWith(() => this.#start());
    // Stopped while starting: the server certificate's renewal armed meanwhile never runs.
    if (!started) this.#serverTimer?.cancel();
  }

  async #start(): Promise<void> {
    const { store, clock, keys } = this.#deps;
    const { dataDir } = this.#o;
    const existing = this.#findCluster();
    const legacy = await readLegacyCaFiles(dataDir);
    const stored = keys.get(CA_KEY_NAME);
    let ca: CertificateAuthority;
    /** The key to store, PEM: a new CA's, or the one an older version kept in `ca/ca.key`. */
    let keyToStore: string | undefined;
    if (stored !== undefined) {
      if (!existing) throw new CaError('invalid_ca', 'the store holds a CA key but no cluster object: the store is damaged');
      ca = await CertificateAuthority.load(existing.caCertificate, stored.toString('utf8'));
      if (legacy && legacy.cert.trim() !== ca.certificate.trim()) {
        throw new CaError('invalid_ca', `the CA in ${caDir(dataDir)} is not the CA of cluster ${existing.id} in the store: this data dir belongs to another cluster`);
      }
    } else if (legacy) {
      // A data dir of an older version: its key moves into the store.
      ca = await CertificateAuthority.load(legacy.cert, legacy.key);
      if (existing && existing.caCertificate.trim() !== ca.certificate.trim()) {
        throw new CaError('invalid_ca', `the CA in ${caDir(dataDir)} is not the CA of cluster ${existing.id} in the store: this data dir belongs to another cluster`);
      }
      keyToStore = legacy.key;
    } else if (existing) {
      throw new CaError('invalid_ca', `the store holds cluster ${existing.id} but its CA key is missing: it is neither in the store nor in ${legacyKeyPath(dataDir)}`);
    } else {
      const created = await CertificateAuthority.create(newId(), clock.now());
      ca = created.ca;
      keyToStore = created.keyPem;
      this.#log.info({ cluster: ca.clusterId }, 'cluster CA created');
    }
    this.#ca = ca;

    const admin = await readAdminFiles(dataDir);
    const token = this.#adminToken(existing, admin?.ca.trim() === ca.certificate.trim() ? admin.token : undefined);
    const digest = ca.digest;
    // The cluster object, the CA key and the token secrets are written together: a store never
    // names a cluster whose keys another start would have to invent.
    await store.update((tx) => {
      const c = tx.table('cluster').get(ca.clusterId);
      if (!c) {
        const secrets = { worker: newTokenSecret(), manager: newTokenSecret() };
        tx.table('cluster').create({
          id: ca.clusterId,
          caCertificate: ca.certificate,
          tokenVerifiers: storeTokenSecrets(tx, keys, digest, secrets),
          adminTokenSha256: sha256(token),
          removedNodeIds: [],
        });
      } else {
        let next: Cluster = c;
        if (c.tokenSecrets) {
          // An older version's cluster: its token secrets (plain text) move into the store
          // wrapped, with verifiers in their place; the tokens stay the same.
          const { tokenSecrets, ...rest } = c;
          next = { ...rest, tokenVerifiers: storeTokenSecrets(tx, keys, digest, tokenSecrets) };
        }
        if (next.adminTokenSha256 !== sha256(token)) next = { ...next, adminTokenSha256: sha256(token) };
        if (next !== c) tx.table('cluster').update(next);
      }
      if (keys.get(ADMIN_TOKEN_KEY)?.toString('utf8') !== token) keys.set(tx, ADMIN_TOKEN_KEY, Buffer.from(token, 'utf8'));
      if (keyToStore !== undefined) keys.put(tx, CA_KEY_NAME, Buffer.from(keyToStore, 'utf8'));
    });
    if (existing?.tokenSecrets) this.#log.info({ cluster: ca.clusterId }, 'join token secrets moved into the store wrapped; the tokens are unchanged');
    await writeCaCertificate(dataDir, ca.certificate);
    if (legacy) {
      await removeLegacyCaKey(dataDir);
      if (keyToStore !== undefined) this.#log.info({ cluster: ca.clusterId }, `cluster CA key moved from ${legacyKeyPath(dataDir)} into the store`);
    }
    await writeAdminFiles(dataDir, { host: this.#advertiseUrl(), token, ...(await this.#adminCertificate(admin)) });
    await this.#renewServer();
  }

  stop(): Promise<void> {
    return this.#lifecycle.stop(() => {
      this.#serverTimer?.cancel();
      this.#serverListeners.clear();
    });
  }

  /** Both join tokens (their secrets unwrapped from the store). */
  joinTokens(): TokensResponse {
    const secrets = readTokenSecrets(this.#deps.keys);
    if (!secrets) throw new ApiError('unavailable', `the join token secrets of cluster ${this.clusterId} are missing from the store`);
    return joinTokens(secrets, this.#authority().digest);
  }

  /**
   * Replaces one role's token secret (its verifier, the secret wrapped, and for the manager
   * token the key-encryption key re-wrapped under the new one, in one transaction: the old
   * token no longer joins a node nor a manager). Nodes that already joined keep their
   * certificates; managers that already joined keep their `kek.key`.
   */
  async rotateToken(role: TokenRole): Promise<TokensResponse> {
    const id = this.clusterId;
    const digest = this.#authority().digest;
    const { keys } = this.#deps;
    await this.#deps.store.update((tx) => {
      const c = tx.table('cluster').get(id);
      if (!c) throw new ApiError('unavailable', 'the cluster object is missing from the store');
      const verifier = storeTokenSecret(tx, keys, digest, role, newTokenSecret());
      tx.table('cluster').update({ ...c, tokenVerifiers: { ...c.tokenVerifiers, [role]: verifier } });
    });
    this.#log.info({ role }, 'join token rotated');
    return this.joinTokens();
  }

  /**
   * The admin bearer token this start hands out (one per cluster, kept wrapped in the store so
   * every manager gives the same): `fileToken` (this data dir's `admin/token`, when it belongs
   * to this CA) while it is the cluster's; else the cluster's, when this data dir just joined or
   * its file is stale (rotated on another manager); else — no file, or an older store without
   * a wrapped one and a file that does not match — a new one (deleting `admin/token` and
   * restarting rotates it).
   */
  #adminToken(cluster: Cluster | undefined, fileToken: string | undefined): string {
    const stored = this.#deps.keys.get(ADMIN_TOKEN_KEY)?.toString('utf8');
    const current = stored !== undefined && cluster !== undefined && checkBearerToken(stored, cluster.adminTokenSha256) ? stored : undefined;
    if (current !== undefined && (fileToken !== undefined || this.#o.joined)) return current;
    if (current === undefined && fileToken !== undefined && cluster !== undefined && checkBearerToken(fileToken, cluster.adminTokenSha256)) return fileToken;
    return randomBytes(32).toString('base64url');
  }

  /**
   * Admits a node: checks the token (401 `unauthenticated`, nothing created, when wrong) and
   * the CSR, registers the node (status `unknown` until its first session) with the role its
   * token grants, and returns its certificate. Throws `ApiError`.
   */
  async join(req: JoinRequest, remoteAddr: string): Promise<JoinResponse> {
    const ca = this.#authority();
    const check = checkJoinToken(req.token, this.#cluster(), ca.digest);
    if ('error' in check) {
      this.#log.warn({ addr: remoteAddr, hostname: req.hostname }, 'join refused: invalid token');
      throw new ApiError('unauthenticated', check.error);
    }
    const hostname = req.hostname.trim();
    if (!HOSTNAME_PATTERN.test(hostname)) {
      throw new ApiError('invalid_argument', `invalid hostname "${req.hostname}": expected letters, digits, ".", "_" and "-", at most 253 characters`, {
        details: [{ path: 'hostname', message: 'not a hostname' }],
      });
    }
    const nodeId = newId();
    const certificate = await this.#issueFromCsr(req.csr, nodeId, check.role);
    await this.#deps.store.update((tx) => {
      tx.nodes.create({
        id: nodeId,
        spec: { role: check.role, availability: 'active', labels: {} },
        description: { hostname, platform: { os: '', arch: '' }, resources: { nanoCpus: 0, memoryBytes: 0 }, drivers: [] },
        status: { state: 'unknown', addr: remoteAddr, message: 'joined; waiting for its first session' },
      });
    });
    this.#log.info({ node: nodeId, hostname, role: check.role, addr: remoteAddr }, 'node joined');
    return { nodeId, role: check.role, certificate, ca: ca.certificate };
  }

  /** A fresh certificate for an authenticated node, with its current role. Throws `ApiError`. */
  async renew(nodeId: string, csr: string): Promise<RenewResponse> {
    const node = this.#deps.store.nodes.get(nodeId);
    if (!node) throw new ApiError('unauthenticated', `node ${nodeId} is not part of this cluster: join again with a token`);
    const certificate = await this.#issueFromCsr(csr, nodeId, node.spec.role);
    this.#log.info({ node: nodeId }, 'node certificate renewed');
    return { certificate, ca: this.caCertificate };
  }

  /**
   * Who presented `cert` (from a TLS socket): the admin, a node of this cluster, or nobody — a
   * missing certificate, one from another CA, an expired one, or a removed node's.
   */
  identify(cert: X509Certificate | undefined): PeerIdentity {
    if (!cert) return { kind: 'none', reason: 'no client certificate was presented' };
    const v = this.#authority().verify(cert, this.#deps.clock.now());
    if (!v.ok) return { kind: 'none', reason: v.reason };
    if (v.unit === 'admin' && v.commonName === 'admin') return { kind: 'admin' };
    // Only a holder of the CA key (a manager) can have one; it grants no more than that holds.
    if (v.unit === 'peer' && v.commonName !== '') return { kind: 'peer', managerId: v.commonName };
    if (v.unit !== 'worker' && v.unit !== 'manager') return { kind: 'none', reason: `a certificate for "${v.unit}" is not a node or admin certificate` };
    if (this.#cluster().removedNodeIds.includes(v.commonName)) {
      return { kind: 'none', reason: `node ${v.commonName} was removed from the cluster and its certificate revoked: join again with a token` };
    }
    if (!this.#deps.store.nodes.get(v.commonName)) {
      return { kind: 'none', reason: `node ${v.commonName} is not part of this cluster: join again with a token` };
    }
    return { kind: 'node', nodeId: v.commonName, role: v.unit };
  }

  /** Whether `token` is the admin bearer token (constant time). */
  isAdminToken(token: string): boolean {
    return checkBearerToken(token, this.#cluster().adminTokenSha256);
  }

  async #issueFromCsr(csr: string, nodeId: string, role: TokenRole): Promise<string> {
    const ca = this.#authority();
    try {
      const publicKey = await publicKeyFromCsr(csr);
      return await ca.issue({ subject: { commonName: nodeId, unit: role }, publicKey, lifetimeMs: this.#o.certLifetimeMs, now: this.#deps.clock.now() });
    } catch (err) {
      if (isCaError(err) && err.code === 'invalid_csr') {
        throw new ApiError('invalid_argument', err.message, { details: [{ path: 'csr', message: err.message }], cause: err });
      }
      throw err;
    }
  }

  /** The admin key and certificate: the stored ones while valid for another third of their life, else new ones. */
  async #adminCertificate(stored: AdminCredential | undefined): Promise<{ key: string; cert: string; ca: string }> {
    const ca = this.#authority();
    const now = this.#deps.clock.now();
    if (stored) {
      const v = ca.verify(stored.cert, now + this.#o.adminCertLifetimeMs / 3);
      if (v.ok && v.unit === 'admin') return { key: stored.key, cert: stored.cert, ca: ca.certificate };
    }
    const keys = await generateKeyPair();
    const cert = await ca.issue({ subject: { commonName: 'admin', unit: 'admin' }, publicKey: keys.publicKey, lifetimeMs: this.#o.adminCertLifetimeMs, now });
    this.#log.info('admin credential issued');
    return { key: await privateKeyPem(keys.privateKey), cert, ca: ca.certificate };
  }

  /**
   * Issues the manager's server certificate (and its peer certificate, with `managerId`) and
   * schedules the next ones at 2/3 of their life.
   */
  async #renewServer(): Promise<void> {
    const ca = this.#authority();
    const { listen, advertiseAddr, certLifetimeMs } = this.#o;
    const names = new Set([advertiseAddr, 'localhost', '127.0.0.1', osHostname()]);
    if (!WILDCARD_HOSTS.has(listen.host)) names.add(listen.host.replace(/^\[|\]$/g, ''));
    const keys = await generateKeyPair();
    const cert = await ca.issue({
      subject: { commonName: MANAGER_SERVER_CN, unit: 'manager' },
      publicKey: keys.publicKey,
      lifetimeMs: certLifetimeMs,
      now: this.#deps.clock.now(),
      altNames: [...names].filter(Boolean),
    });
    this.#server = { key: await privateKeyPem(keys.privateKey), cert, ca: ca.certificate };
    const { managerId } = this.#o;
    if (managerId !== '') {
      const peerKeys = await generateKeyPair();
      const peerCert = await ca.issue({ subject: { commonName: managerId, unit: 'peer' }, publicKey: peerKeys.publicKey, lifetimeMs: certLifetimeMs, now: this.#deps.clock.now(), clientOnly: true });
      this.#peer = { key: await privateKeyPem(peerKeys.privateKey), cert: peerCert, ca: ca.certificate };
    }
    for (const fn of this.#serverListeners) fn(this.#server);
    this.#serverTimer = this.#deps.clock.setTimer(Math.floor((certLifetimeMs * 2) / 3), () => {
      if (!this.#lifecycle.running) return;
      this.#renewServer().catch((err: unknown) => this.#log.error({ err }, 'renewing the server certificate failed'));
    });
  }

  #advertiseUrl(): string {
    const a = this.#o.advertiseAddr;
    return `https://${a.includes(':') ? `[${a}]` : a}:${this.#o.listen.port}`;
  }

  #authority(): CertificateAuthority {
    if (!this.#ca) throw new Error('cluster CA not started');
    return this.#ca;
  }

  #findCluster(): Cluster | undefined {
    return this.#deps.store.table('cluster').all()[0];
  }

  #cluster(): Cluster {
    const c = this.#deps.store.table('cluster').get(this.clusterId);
    if (!c) throw new ApiError('unavailable', `cluster ${this.clusterId} is missing from the store`);
    return c;
  }
}
