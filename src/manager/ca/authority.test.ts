import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { caDigest } from '../../api/join.ts';
import { CertificateAuthority, publicKeyFromCsr } from './authority.ts';
import { isCaError } from './errors.ts';
import { newNodeKey } from '../../testing/node-key.ts';
import { generateKeyPair, x509 } from './x509.ts';

const NOW = Date.UTC(2026, 0, 1);
const DAY = 24 * 3600_000;

async function makeCsr(): Promise<string> {
  return (await newNodeKey()).csr;
}

describe('CertificateAuthority', () => {
  it('creates a root whose digest is the token digest, and loads it back from PEM', async () => {
    const { ca, keyPem } = await CertificateAuthority.create('cluster1', NOW);
    assert.equal(ca.digest, caDigest(ca.certificate));
    const root = new X509Certificate(ca.certificate);
    assert.equal(root.ca, true);
    assert.match(root.subject, /O=cluster1/);
    const again = await CertificateAuthority.load(ca.certificate, keyPem);
    assert.equal(again.clusterId, 'cluster1');
    assert.equal(again.digest, ca.digest);
  });

  it('refuses a key that does not belong to the certificate', async () => {
    const a = await CertificateAuthority.create('c1', NOW);
    const b = await CertificateAuthority.create('c2', NOW);
    await assert.rejects(CertificateAuthority.load(a.ca.certificate, b.keyPem), (e) => isCaError(e) && e.code === 'invalid_ca');
  });

  it('issues a certificate from a CSR with CN, OU and O, valid for its lifetime', async () => {
    const { ca } = await CertificateAuthority.create('cluster1', NOW);
    const pem = await ca.issue({ subject: { commonName: 'node1', unit: 'worker' }, publicKey: await publicKeyFromCsr(await makeCsr()), lifetimeMs: 90 * DAY, now: NOW });
    const cert = new X509Certificate(pem);
    assert.equal(cert.subject, 'CN=node1\nOU=worker\nO=cluster1');
    assert.ok(cert.checkIssued(new X509Certificate(ca.certificate)));
    assert.equal(cert.validToDate.getTime(), Math.floor((NOW + 90 * DAY) / 1000) * 1000);
    assert.deepEqual(ca.verify(pem, NOW + DAY), { ok: true, commonName: 'node1', unit: 'worker', organization: 'cluster1' });
  });

  it('refuses a certificate from another CA, an expired one and garbage', async () => {
    const { ca } = await CertificateAuthority.create('cluster1', NOW);
    const other = await CertificateAuthority.create('cluster1', NOW);
    const key = await publicKeyFromCsr(await makeCsr());
    const foreign = await other.ca.issue({ subject: { commonName: 'n', unit: 'worker' }, publicKey: key, lifetimeMs: DAY, now: NOW });
    const r1 = ca.verify(foreign, NOW);
    assert.equal(r1.ok, false);
    assert.match(r1.ok ? '' : r1.reason, /not issued by this cluster's CA/);

    const short = await ca.issue({ subject: { commonName: 'n', unit: 'worker' }, publicKey: key, lifetimeMs: 60_000, now: NOW });
    assert.equal(ca.verify(short, NOW + 30_000).ok, true);
    const r2 = ca.verify(short, NOW + 61_000);
    assert.match(r2.ok ? '' : r2.reason, /expired at 2026-01-01T00:01:00/);
    assert.equal(ca.verify('not a cert', NOW).ok, false);
  });

  it('puts IP and DNS names in a server certificate', async () => {
    const { ca } = await CertificateAuthority.create('cluster1', NOW);
    const keys = await generateKeyPair();
    const pem = await ca.issue({ subject: { commonName: 'm', unit: 'manager' }, publicKey: keys.publicKey, lifetimeMs: DAY, now: NOW, altNames: ['10.0.0.1', 'localhost'] });
    const cert = new X509Certificate(pem);
    assert.equal(cert.subjectAltName, 'IP Address:10.0.0.1, DNS:localhost');
    assert.equal(cert.checkIP('10.0.0.1'), '10.0.0.1');
  });

  it('refuses CSRs that are not PEM, not P-256 or badly signed', async () => {
    await assert.rejects(publicKeyFromCsr('hello'), (e) => isCaError(e) && e.code === 'invalid_csr' && /not a PEM PKCS#10/.test(e.message));
    const rsa = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 };
    const keys = (await crypto.subtle.generateKey(rsa, true, ['sign', 'verify'])) as unknown as Awaited<ReturnType<typeof generateKeyPair>>;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys, signingAlgorithm: rsa });
    await assert.rejects(publicKeyFromCsr(csr.toString('pem')), (e) => isCaError(e) && /ECDSA P-256/.test(e.message));
  });
});
