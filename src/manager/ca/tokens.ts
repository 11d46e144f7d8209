import { createHash, timingSafeEqual } from 'node:crypto';
import type { Cluster } from '../../api/cluster.ts';
import { formatJoinToken, newTokenSecret, parseJoinToken } from '../../api/join.ts';

/** A node role a join token grants. */
export type TokenRole = 'worker' | 'manager';

/** Both join tokens of a cluster, as `flotilla token` prints them. */
export function joinTokens(cluster: Cluster, digest: string): { worker: string; manager: string } {
  return {
    worker: formatJoinToken({ caDigest: digest, secret: cluster.tokenSecrets.worker }),
    manager: formatJoinToken({ caDigest: digest, secret: cluster.tokenSecrets.manager }),
  };
}

/** The cluster with one role's token secret replaced (the other is kept). */
export function rotateToken(cluster: Cluster, role: TokenRole): Cluster {
  return { ...cluster, tokenSecrets: { ...cluster.tokenSecrets, [role]: newTokenSecret() } };
}

/**
 * The role a presented join token grants, or why it grants none. Both secrets are compared in
 * constant time, always both, so timing says nothing about either. The messages all start with
 * "invalid join token" (what `POST /v1/join` answers with 401).
 */
export function checkJoinToken(text: string, cluster: Cluster, digest: string): { role: TokenRole } | { error: string } {
  const t = parseJoinToken(text);
  if ('error' in t) return { error: `invalid join token: ${t.error}` };
  const worker = sameSecret(t.secret, cluster.tokenSecrets.worker);
  const manager = sameSecret(t.secret, cluster.tokenSecrets.manager);
  if (!sameSecret(t.caDigest, digest)) return { error: 'invalid join token: it belongs to another cluster (its CA fingerprint differs)' };
  if (manager) return { role: 'manager' };
  if (worker) return { role: 'worker' };
  return { error: 'invalid join token' };
}

/** Whether `presented` is the bearer token whose SHA-256 is `sha256Hex`, in constant time. */
export function checkBearerToken(presented: string, sha256Hex: string): boolean {
  return sameSecret(sha256(presented), sha256Hex);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  // Lengths of these secrets are public (fixed by the format); only contents must not leak.
  return x.length === y.length && timingSafeEqual(x, y);
}
