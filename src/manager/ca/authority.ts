import { randomBytes, X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { caDigest } from '../../api/join.ts';
import { CaError } from './errors.ts';
import { EC_ALGORITHM, generateKeyPair, importPrivateKey, privateKeyPem, x509, type X509SigningKey } from './x509.ts';

/** What a certificate's holder is: OU of its subject (`peer`: a manager as a client of another). */
export type CertificateUnit = 'worker' | 'manager' | 'admin' | 'peer';

/** The certificate subject this CA writes: CN, OU and (always) O = the cluster id. */
export interface CertificateSubject {
  readonly commonName: string;
  readonly unit: CertificateUnit;
}

/** What to put in one certificate. */
export interface IssueRequest {
  readonly subject: CertificateSubject;
  /** The holder's public key: from a verified CSR (`publicKeyFromCsr`) or a key pair made here. */
  readonly publicKey: x509.PublicKey | X509SigningKey;
  readonly lifetimeMs: number;
  /** `now` from the caller's clock (ms since the epoch). */
  readonly now: number;
  /** DNS names and IP addresses for a server certificate; none for a client certificate. */
  readonly altNames?: readonly string[];
  /** A client certificate only (extended key usage clientAuth alone). Default: client and server (a node's). */
  readonly clientOnly?: boolean;
}

/** What `verify` says about a presented certificate. */
export type VerifyResult =
  | { readonly ok: true; readonly commonName: string; readonly unit: string; readonly organization: string }
  | { readonly ok: false; readonly reason: string };

/** How far back certificates are dated, so a node whose clock is a little behind accepts them. */
const BACKDATE_MS = 5 * 60_000;
/** The root lives 20 years, as SwarmKit's does. */
export const ROOT_LIFETIME_MS = 20 * 365 * 24 * 3600_000;

/**
 * The cluster root CA: an ECDSA P-256 key and a self-signed certificate (subject
 * `CN=Flotilla cluster CA, O=<clusterId>`). Issues certificates (subject `CN, OU, O=<clusterId>`)
 * and verifies the ones peers present. Pure crypto: no files, no store.
 */
export class CertificateAuthority {
  /** The root certificate, PEM. */
  readonly certificate: string;
  readonly clusterId: string;
  /** SHA-256 of the root certificate's DER: what join tokens carry. */
  readonly digest: string;
  readonly #cert: x509.X509Certificate;
  readonly #nodeCert: NodeX509;
  readonly #key: X509SigningKey;

  private constructor(cert: x509.X509Certificate, key: X509SigningKey, clusterId: string) {
    this.#cert = cert;
    this.#key = key;
    this.clusterId = clusterId;
    this.certificate = cert.toString('pem');
    this.#nodeCert = new NodeX509(this.certificate);
    this.digest = caDigest(this.certificate);
  }

  /** A new root CA for cluster `clusterId`; returns its key as PEM for the caller to keep. */
  static async create(clusterId: string, now: number): Promise<{ ca: CertificateAuthority; keyPem: string }> {
    const keys = await generateKeyPair();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: `CN=Flotilla cluster CA, O=${clusterId}`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + ROOT_LIFETIME_MS),
      keys,
      signingAlgorithm: EC_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return { ca: new CertificateAuthority(cert, keys.privateKey, clusterId), keyPem: await privateKeyPem(keys.privateKey) };
  }

  /** The CA from its certificate and key (PEM); `CaError('invalid_ca')` when they do not belong together. */
  static async load(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    let cert: x509.X509Certificate;
    let key: X509SigningKey;
    try {
      cert = new x509.X509Certificate(certPem);
      key = await importPrivateKey(keyPem);
    } catch (err) {
      throw new CaError('invalid_ca', `the cluster CA certificate or key is unreadable: ${(err as Error).message}`, { cause: err });
    }
    const clusterId = /(?:^|,\s*)O=([^,]+)/.exec(cert.subject)?.[1];
    if (!clusterId) throw new CaError('invalid_ca', `the cluster CA certificate has no organization (cluster id) in its subject "${cert.subject}"`);
    const probe = Buffer.from('flotilla-ca-key-check');
    const sig = await webcrypto.subtle.sign(EC_ALGORITHM, key as unknown as webcrypto.CryptoKey, probe);
    const publicKey = await cert.publicKey.export(EC_ALGORITHM, ['verify']);
    if (!(await webcrypto.subtle.verify(EC_ALGORITHM, publicKey as unknown as webcrypto.CryptoKey, sig, probe))) {
      throw new CaError('invalid_ca', 'the cluster CA key does not belong to the CA certificate');
    }
    return new CertificateAuthority(cert, key, clusterId);
  }

  /** Issues a certificate signed by this CA; returns it as PEM. */
  async issue(req: IssueRequest): Promise<string> {
    const server = req.altNames !== undefined && req.altNames.length > 0;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      // Node certificates serve both ends (an agent may one day be a manager); server ones only serve.
      new x509.ExtendedKeyUsageExtension(
        server ? [x509.ExtendedKeyUsage.serverAuth] : req.clientOnly === true ? [x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth],
      ),
      await x509.AuthorityKeyIdentifierExtension.create(this.#cert, false),
    ];
    if (server) {
      extensions.push(new x509.SubjectAlternativeNameExtension(req.altNames.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))));
    }
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: `CN=${req.subject.commonName}, OU=${req.subject.unit}, O=${this.clusterId}`,
      issuer: this.#cert.subject,
      notBefore: new Date(req.now - BACKDATE_MS),
      notAfter: new Date(req.now + req.lifetimeMs),
      publicKey: req.publicKey,
      signingKey: this.#key,
      signingAlgorithm: EC_ALGORITHM,
      extensions,
    });
    return cert.toString('pem');
  }

  /**
   * Checks a certificate a peer presented: signed by this CA, valid at `now`, and for this
   * cluster. Never throws; the reason is one line a refused peer can act on.
   */
  verify(cert: NodeX509 | string, now: number): VerifyResult {
    let c: NodeX509;
    try {
      c = typeof cert === 'string' ? new NodeX509(cert) : cert;
    } catch {
      return { ok: false, reason: 'the certificate is not a readable X.509 certificate' };
    }
    if (!c.checkIssued(this.#nodeCert) || !c.verify(this.#nodeCert.publicKey)) {
      return { ok: false, reason: 'the certificate was not issued by this cluster\'s CA' };
    }
    if (now < c.validFromDate.getTime()) return { ok: false, reason: `the certificate is not valid before ${c.validFromDate.toISOString()}` };
    if (now > c.validToDate.getTime()) return { ok: false, reason: `the certificate expired at ${c.validToDate.toISOString()}: join again with a token` };
    const subject = parseSubject(c.subject);
    if (subject.O !== this.clusterId) return { ok: false, reason: `the certificate is for cluster ${subject.O ?? '?'}, not ${this.clusterId}` };
    return { ok: true, commonName: subject.CN ?? '', unit: subject.OU ?? '', organization: subject.O };
  }
}

/** A CSR's public key once its signature is checked; `CaError('invalid_csr')` when it is no good. */
export async function publicKeyFromCsr(csrPem: string): Promise<x509.PublicKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new CaError('invalid_csr', 'csr is not a PEM PKCS#10 certificate request', { cause: err });
  }
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') {
    throw new CaError('invalid_csr', `csr key must be ECDSA P-256, got ${alg.name ?? '?'} ${alg.namedCurve ?? ''}`.trim());
  }
  if (!(await csr.verify())) throw new CaError('invalid_csr', 'csr signature does not verify: it was not signed by the key it carries');
  return csr.publicKey;
}

/** `CN=a\nOU=b\nO=c` (Node's X509Certificate.subject) → {CN: a, OU: b, O: c}. */
function parseSubject(subject: string): Partial<Record<string, string>> {
  const out: Partial<Record<string, string>> = {};
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/** A random positive 128-bit serial number, hex. */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f;
  return b.toString('hex');
}
