import { EC_ALGORITHM, generateKeyPair, privateKeyPem, x509 } from '../manager/ca/x509.ts';

/**
 * Test helper: what a node makes before it joins — an ECDSA P-256 key (PKCS#8 PEM) and a
 * PKCS#10 request for it (PEM), as the agent's join code does.
 */
export async function newNodeKey(commonName = 'host'): Promise<{ key: string; csr: string }> {
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=${commonName}`, keys, signingAlgorithm: EC_ALGORITHM });
  return { key: await privateKeyPem(keys.privateKey), csr: csr.toString('pem') };
}
