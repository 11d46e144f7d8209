import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

/**
 * `@peculiar/x509`, set up once for Node: it needs `reflect-metadata` loaded first and a
 * WebCrypto provider. Everything in this folder imports the library from here.
 */
type Provider = Parameters<typeof x509.cryptoProvider.set>[0];
x509.cryptoProvider.set(webcrypto as unknown as Provider);

export { x509 };

/** The x509 library's own key types (its typings use the DOM's WebCrypto names). */
export type X509KeyPair = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
export type X509SigningKey = X509KeyPair['privateKey'];

/** ECDSA P-256 with SHA-256: every key and signature in the cluster. */
export const EC_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** A fresh, exportable ECDSA P-256 key pair. */
export async function generateKeyPair(): Promise<X509KeyPair> {
  const keys = await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ['sign', 'verify']);
  return keys as unknown as X509KeyPair;
}

/** A private key as PKCS#8 PEM. */
export async function privateKeyPem(key: X509SigningKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key as unknown as webcrypto.CryptoKey));
  return toPem('PRIVATE KEY', der);
}

/** A PKCS#8 PEM private key (ECDSA P-256) as a signing key; throws when it is not one. */
export async function importPrivateKey(pem: string): Promise<X509SigningKey> {
  const der = fromPem(pem, 'PRIVATE KEY');
  const key = await webcrypto.subtle.importKey('pkcs8', der, EC_ALGORITHM, true, ['sign']);
  return key as unknown as X509SigningKey;
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function fromPem(pem: string, label: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([^-]*)-----END ${label}-----`).exec(pem);
  if (!m) throw new Error(`not a PEM ${label}`);
  return Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64');
}
