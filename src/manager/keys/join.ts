import { timingSafeEqual } from 'node:crypto';
import { caDigest, joinTokenVerifier, parseJoinToken } from '../../api/join.ts';
import type { Store } from '../../store/store.ts';
import { KeyError } from './errors.ts';
import { kekId } from './kek.ts';
import { MANAGER_TOKEN_KEK_NAME, unwrapWithToken } from './token-wrap.ts';

const GET_TOKEN = 'print it with `flotilla token manager` on a running manager of the cluster';

/**
 * The key-encryption key that the manager join token `text` unlocks in `store`: checks the
 * token against the store's cluster (its CA digest, then its secret against the stored
 * verifiers, so a worker token or a rotated one is named as such), then unwraps the record
 * `kek-manager-token` and checks the KEK's fingerprint. Reads only; throws `KeyError` with one
 * line saying what is wrong and what to do; never puts the token in a message.
 */
export function kekFromJoinToken(store: Store, text: string): Buffer {
  const token = parseJoinToken(text);
  if ('error' in token) throw new KeyError('join_token_invalid', `--join-token is not a join token (expected FLT1-<64 hex digits>-<32 characters>): ${GET_TOKEN}`);
  const clusters = store.table('cluster').all();
  const cluster = clusters[0];
  if (!cluster) {
    throw new KeyError('nothing_to_join', 'the store holds no cluster to join: start the first manager without --join-token (it creates the cluster), then the others with its manager token');
  }
  const digest = caDigest(cluster.caCertificate);
  if (!same(token.caDigest, digest)) {
    throw new KeyError(
      'join_token_other_cluster',
      `the join token belongs to another cluster (CA ${token.caDigest.slice(0, 12)}…, while the store holds cluster ${cluster.id} with CA ${digest.slice(0, 12)}…): check --store, or ${GET_TOKEN}`,
    );
  }
  const record = store.table('clusterKey').get(MANAGER_TOKEN_KEK_NAME);
  const verifiers = cluster.tokenVerifiers as typeof cluster.tokenVerifiers | undefined;
  if (!record || !verifiers) {
    throw new KeyError(
      'nothing_to_join',
      `cluster ${cluster.id} keeps no key-encryption key for the manager token yet (its managers run an older version): restart one of them with this version, then join again`,
    );
  }
  const presented = joinTokenVerifier(token);
  // Both compared, always, so timing says nothing about either.
  const manager = same(presented, verifiers.manager);
  const worker = same(presented, verifiers.worker);
  if (worker && !manager) {
    throw new KeyError('join_token_worker', `the join token is cluster ${cluster.id}'s worker token, which cannot make a manager: use the manager token (${GET_TOKEN})`);
  }
  if (!manager) throw new KeyError('join_token_invalid', `the join token is not cluster ${cluster.id}'s current manager token (mistyped, or rotated since): ${GET_TOKEN}`);
  const kek = unwrapWithToken(record, token);
  if (!kek || kekId(kek) !== record.kekId) {
    throw new KeyError('unwrap_failed', `the key-encryption key of cluster ${cluster.id} does not unwrap under its manager token: the ${MANAGER_TOKEN_KEK_NAME} record in the store was changed or damaged`);
  }
  return kek;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
