import { createHash, timingSafeEqual } from 'node:crypto';
import type { Cluster } from '../../api/cluster.ts';
import { formatJoinToken, joinTokenVerifier, parseJoinToken } from '../../api/join.ts';
import type { KeyVault } from '../../store/key-vault.ts';
import type { Tx } from '../../store/tx.ts';

/** A node role a join token grants. */
export type TokenRole = 'worker' | 'manager';

/** Each role's token secret. */
export type TokenSecrets = { readonly [R in TokenRole]: string };

/**
 * Where each role's token secret is kept: a `clusterKey`, wrapped under the key-encryption key,
 * so any manager holding the KEK can print the tokens while the store holds no secret in plain
 * text. The cluster object holds only their verifiers.
 */
export const TOKEN_SECRET_KEYS: { readonly [R in TokenRole]: string } = { worker: 'join-token-worker', manager: 'join-token-manager' };

/** Where the admin bearer token is kept, wrapped, so every manager hands out the same one. */
export const ADMIN_TOKEN_KEY = 'admin-token';

/** Both join tokens of a cluster, as `flotilla token` prints them. */
export function joinTokens(secrets: TokenSecrets, digest: string): { worker: string; manager: string } {
  return {
    worker: formatJoinToken({ caDigest: digest, secret: secrets.worker }),
    manager: formatJoinToken({ caDigest: digest, secret: secrets.manager }),
  };
}

/** The token secrets from the store, unwrapped; undefined when one is missing. */
export function readTokenSecrets(keys: KeyVault): TokenSecrets | undefined {
  const worker = keys.get(TOKEN_SECRET_KEYS.worker);
  const manager = keys.get(TOKEN_SECRET_KEYS.manager);
  if (worker === undefined || manager === undefined) return undefined;
  return { worker: worker.toString('utf8'), manager: manager.toString('utf8') };
}

/**
 * Stores `role`'s token secret in `tx`: wrapped (replacing the previous one) and, for the
 * manager token, the key-encryption key wrapped under it (so the token it replaces no longer
 * opens the KEK). Returns its verifier, for the cluster object.
 */
export function storeTokenSecret(tx: Tx, keys: KeyVault, digest: string, role: TokenRole, secret: string): string {
  keys.set(tx, TOKEN_SECRET_KEYS[role], Buffer.from(secret, 'utf8'));
  if (role === 'manager') keys.shareWithManagerToken(tx, { caDigest: digest, secret });
  return joinTokenVerifier({ caDigest: digest, secret });
}

/** Both roles' secrets stored (`storeTokenSecret`); their verifiers. */
export function storeTokenSecrets(tx: Tx, keys: KeyVault, digest: string, secrets: TokenSecrets): { worker: string; manager: string } {
  return { worker: storeTokenSecret(tx, keys, digest, 'worker', secrets.worker), manager: storeTokenSecret(tx, keys, digest, 'manager', secrets.manager) };
}

/**
 * The role a presented join token grants, or why it grants none. Both verifiers are compared in
 * constant time, always both, so timing says nothing about either. The messages all start with
 * "invalid join token" (what `POST /v1/join` answers with 401).
 */
export function checkJoinToken(text: string, cluster: Cluster, digest: string): { role: TokenRole } | { error: string } {
  const t = parseJoinToken(text);
  if ('error' in t) return { error: `invalid join token: ${t.error}` };
  const presented = joinTokenVerifier(t);
  const worker = sameSecret(presented, cluster.tokenVerifiers.worker);
  const manager = sameSecret(presented, cluster.tokenVerifiers.manager);
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
