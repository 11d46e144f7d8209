import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A certificate and its key, PEM. */
export interface KeyAndCert {
  readonly key: string;
  readonly cert: string;
}

/**
 * A small certificate authority for tests of TLS clients (join, renewal, https transport):
 * signs CSRs and makes server and client certificates. Not the cluster CA (the manager's own
 * lives in `src/manager/ca/`); only what a test needs to stand in for a manager.
 */
export class TestCa {
  readonly certificate: string;
  readonly #keys: webcrypto.CryptoKeyPair;
  readonly #cert: x509.X509Certificate;
  #serial = 1;

  private constructor(keys: webcrypto.CryptoKeyPair, cert: x509.X509Certificate) {
    this.#keys = keys;
    this.#cert = cert;
    this.certificate = cert.toString('pem');
  }

  static async create(name = 'test-cluster'): Promise<TestCa> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: [{ CN: ['flotilla root CA'] }, { O: [name] }],
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 365 * 86_400_000),
      keys,
      signingAlgorithm: ALG,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
    });
    return new TestCa(keys, cert);
  }

  /** Signs a PKCS#10 request: subject CN/OU/O as given, valid from `notBefore` for `lifetimeMs`. */
  async sign(csrPem: string, subject: { cn: string; ou: string; o?: string }, opts: { notBefore?: number; lifetimeMs?: number; dns?: string[]; ips?: string[] } = {}): Promise<string> {
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    const notBefore = opts.notBefore ?? Date.now() - 60_000;
    const sans = [...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })), ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value }))];
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: (++this.#serial).toString(16).padStart(2, '0'),
      subject: [{ CN: [subject.cn] }, { OU: [subject.ou] }, { O: [subject.o ?? 'test-cluster'] }],
      issuer: this.#cert.subject,
      notBefore: new Date(notBefore),
      notAfter: new Date(notBefore + (opts.lifetimeMs ?? 86_400_000)),
      publicKey: await csr.publicKey.export(ALG, ['verify']),
      signingKey: this.#keys.privateKey,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        ...(sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans)] : []),
      ],
    });
    return cert.toString('pem');
  }

  /** A key and a certificate for it (a server's, with SANs, or a client's). */
  async issue(subject: { cn: string; ou: string; o?: string }, opts: { lifetimeMs?: number; dns?: string[]; ips?: string[] } = {}): Promise<KeyAndCert> {
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: [{ CN: [subject.cn] }], keys, signingAlgorithm: ALG });
    const cert = await this.sign(csr.toString('pem'), subject, opts);
    const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey));
    const key = `-----BEGIN PRIVATE KEY-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END PRIVATE KEY-----\n`;
    return { key, cert };
  }
}
