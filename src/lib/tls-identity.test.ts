import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PeerCertificate } from 'node:tls';
import { clusterServerIdentity, isManagerServerCertificate } from './tls-identity.ts';

/** Just the fields the checks read (the chain itself is verified by TLS before). */
function cert(CN: string, OU: string, san = 'DNS:elsewhere.example'): PeerCertificate {
  return { subject: { CN, OU, O: 'cluster' }, subjectaltname: san } as unknown as PeerCertificate;
}

describe('clusterServerIdentity', () => {
  it('takes a certificate naming the host, whatever it is', () => {
    assert.equal(clusterServerIdentity('10.0.0.1', cert('node-7', 'worker', 'IP Address:10.0.0.1')), undefined);
  });

  it("takes a manager's server certificate by another name, not a manager-role node's", () => {
    assert.equal(isManagerServerCertificate(cert('flotilla-manager', 'manager')), true);
    assert.equal(clusterServerIdentity('10.0.0.1', cert('flotilla-manager', 'manager')), undefined);
    assert.equal(isManagerServerCertificate(cert('node-7', 'manager')), false);
    assert.ok(clusterServerIdentity('10.0.0.1', cert('node-7', 'manager')) instanceof Error, 'a node certificate with OU=manager passed');
    assert.ok(clusterServerIdentity('10.0.0.1', cert('flotilla-manager', 'worker')) instanceof Error);
  });
});
