import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { PeerCertificate } from 'node:tls';
import { webcrypto, X509Certificate } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clusterServerIdentity } from '../lib/tls-identity.ts';

/**
 * A node's TLS identity: its private key, its certificate from the cluster CA, and the CA
 * certificate it trusts (the one the join token pinned). Kept as PEM files in `<dataDir>/tls/`
 * (mode 0600), so a restarted agent comes back as the same node without a token.
 */
export interface Credential {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

/** What a certificate says about its holder, and when it is valid (ms since the epoch). */
export interface CertificateInfo {
  /** CN: the node id (or `admin`). */
  readonly commonName: string;
  /** OU: `worker`, `manager` or `admin`. */
  readonly role: string;
  /** O: the cluster id. */
  readonly organization: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** The folder of a data dir holding the credential. */
export const TLS_DIR = 'tls';
const FILES = { key: 'key.pem', cert: 'cert.pem', ca: 'ca.pem' } as const;

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** The credential stored in `dataDir`, or undefined when the node never joined. */
export async function loadCredential(dataDir: string): Promise<Credential | undefined> {
  const dir = join(dataDir, TLS_DIR);
  try {
    const [key, cert, ca] = await Promise.all([FILES.key, FILES.cert, FILES.ca].map((f) => readFile(join(dir, f), 'utf8')));
    return { key: key ?? '', cert: cert ?? '', ca: ca ?? '' };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Saves a credential: each file 0600, all three staged first and then renamed into place, so
 * a crash never leaves a torn file.
 */
export async function saveCredential(dataDir: string, credential: Credential): Promise<void> {
  const dir = join(dataDir, TLS_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const entries = [
    [FILES.key, credential.key],
    [FILES.cert, credential.cert],
    [FILES.ca, credential.ca],
  ] as const;
  for (const [file, text] of entries) await writeFile(join(dir, `${file}.tmp`), text, { mode: 0o600 });
  for (const [file] of entries) await rename(join(dir, `${file}.tmp`), join(dir, file));
}

/**
 * A fresh ECDSA P-256 private key (PKCS#8 PEM) and a PKCS#10 request for it (PEM). The
 * subject's CN is a hint only: the CA writes the node id, role and cluster itself.
 */
export async function generateKeyAndCsr(commonName: string): Promise<{ key: string; csr: string }> {
  const keys = await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys: keys as unknown as webcrypto.CryptoKeyPair,
    signingAlgorithm: ALGORITHM,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { key: pem('PRIVATE KEY', pkcs8), csr: csr.toString('pem') };
}

function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Reads a PEM certificate's subject and validity. Throws on text that is not a certificate. */
export function certificateInfo(certPem: string): CertificateInfo {
  const c = new X509Certificate(certPem);
  const fields = new Map<string, string>();
  for (const line of c.subject.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  return {
    commonName: fields.get('CN') ?? '',
    role: fields.get('OU') ?? '',
    organization: fields.get('O') ?? '',
    notBefore: c.validFromDate.getTime(),
    notAfter: c.validToDate.getTime(),
  };
}

/** When a certificate should be renewed: at 2/3 of its lifetime. */
export function renewalTime(info: Pick<CertificateInfo, 'notBefore' | 'notAfter'>): number {
  return info.notBefore + Math.floor(((info.notAfter - info.notBefore) * 2) / 3);
}

/** Whether `certPem` was signed by `caPem`. */
export function issuedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}

/**
 * TLS client options that trust only the cluster CA and, when a credential is given, present
 * its certificate (server names checked by `clusterServerIdentity`).
 */
export function tlsClientOptions(ca: string, credential?: Pick<Credential, 'key' | 'cert'>): {
  ca: string;
  key?: string;
  cert?: string;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
} {
  return {
    ca,
    ...(credential ? { key: credential.key, cert: credential.cert } : {}),
    checkServerIdentity: clusterServerIdentity,
  };
}
