import { checkServerIdentity, type PeerCertificate } from 'node:tls';

/**
 * The subject CN of every manager's server certificate (`src/manager/ca` issues it with
 * OU=manager). Node certificates of manager-role nodes also carry OU=manager, but their CN is
 * the node id: the CN is what tells a manager's server certificate from them.
 */
export const MANAGER_SERVER_CN = 'flotilla-manager';

/** Whether `cert` is a manager's server certificate: subject CN=flotilla-manager and OU=manager. */
export function isManagerServerCertificate(cert: PeerCertificate): boolean {
  const only = (v: string | string[] | undefined, want: string): boolean => v === want || (Array.isArray(v) && v.length === 1 && v[0] === want);
  const subject = cert.subject as Record<string, string | string[] | undefined> | undefined;
  return only(subject?.CN, MANAGER_SERVER_CN) && only(subject?.OU, 'manager');
}

/**
 * The server-name check for connections pinned to a cluster CA: the usual host name check,
 * but a manager's server certificate (`isManagerServerCertificate`) that does not name the
 * address is accepted too, so a manager reached by another of its names still works. Trust
 * comes from the pinned cluster CA (the chain is verified before this runs), not from public
 * names; a node certificate (even a manager-role node's, OU=manager) never passes the fallback.
 */
export function clusterServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const err = checkServerIdentity(host, cert);
  if (!err) return undefined;
  return isManagerServerCertificate(cert) ? undefined : err;
}
