import { hkdfSync } from 'node:crypto';
import { KEY_WRAP_ALGORITHM, type ClusterKey } from '../../api/cluster.ts';
import type { JoinToken } from '../../api/join.ts';
import { gcmOpen, gcmSeal } from './gcm.ts';

/**
 * The key-encryption key (KEK) wrapped under the manager join token: how a manager that starts
 * on a shared store with `--join-token` gets the KEK, and with it the cluster's keys, while the
 * store holds neither the KEK nor the token's secret in plain text.
 *
 * The wrapping key is HKDF-SHA256 of the token's secret, salted with the token's CA digest,
 * under the label `flotilla/kek-wrapping-key/manager-join-token/v1` (the store's token verifier
 * is derived from the same secret under another label, so it reveals nothing of this key). The
 * KEK is sealed with AES-256-GCM; the AAD names the record, the algorithm, the KEK's
 * fingerprint, what it is wrapped under and the CA digest, so a record copied under another id,
 * relabelled with another KEK's id, or taken to another cluster does not open.
 */

/** The id of the one `clusterKey` record that holds the KEK wrapped under the manager join token. */
export const MANAGER_TOKEN_KEK_NAME = 'kek-manager-token';

/** The fields of that record besides the store's own. */
export type TokenWrappedKek = Pick<ClusterKey, 'algorithm' | 'kekId' | 'wrapped'> & { readonly wrappedUnder: 'managerToken' };

const LABEL = 'flotilla/kek-wrapping-key/manager-join-token/v1';

function wrappingKey(token: JoinToken): Buffer {
  return Buffer.from(hkdfSync('sha256', token.secret, Buffer.from(token.caDigest, 'hex'), LABEL, 32));
}

function aad(id: string, kekId: string, caDigest: string): string {
  return `flotilla/clusterKey/${id}/${KEY_WRAP_ALGORITHM}/${kekId}/managerToken/${caDigest}`;
}

/** Wraps the KEK `kek` (fingerprint `kekId`) under the manager join token `token`. */
export function wrapUnderToken(kek: Buffer, kekId: string, token: JoinToken): TokenWrappedKek {
  const sealed = gcmSeal(wrappingKey(token), kek, aad(MANAGER_TOKEN_KEK_NAME, kekId, token.caDigest));
  return { algorithm: KEY_WRAP_ALGORITHM, kekId, wrapped: sealed.toString('base64'), wrappedUnder: 'managerToken' };
}

/**
 * The KEK a record wrapped under the manager join token holds, or undefined when `token` does
 * not open it (another token, a changed record, another id or cluster). The caller checks the
 * KEK's fingerprint against `record.kekId`.
 */
export function unwrapWithToken(record: Pick<ClusterKey, 'id' | 'algorithm' | 'kekId' | 'wrapped' | 'wrappedUnder'>, token: JoinToken): Buffer | undefined {
  if (record.algorithm !== KEY_WRAP_ALGORITHM || record.wrappedUnder !== 'managerToken') return undefined;
  return gcmOpen(wrappingKey(token), Buffer.from(record.wrapped, 'base64'), aad(record.id, record.kekId, token.caDigest));
}
