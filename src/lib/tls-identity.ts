import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/**
 * The server-name check for connections pinned to a cluster CA: the usual host name check,
 * but a certificate that does not name the address and says it belongs to a manager
 * (subject OU=manager) is accepted too, so a manager reached by another of its names still
 * works. Trust comes from the pinned cluster CA (the chain is verified before this runs), not
 * from public names.
 */
export function clusterServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const err = checkServerIdentity(host, cert);
  if (!err) return undefined;
  const ou = cert.subject?.OU as string | string[] | undefined;
  return ou === 'manager' || (Array.isArray(ou) && ou.includes('manager')) ? undefined : err;
}
