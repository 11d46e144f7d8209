import { Type, type Static } from '@sinclair/typebox';
import { Meta } from './meta.ts';

/**
 * The cluster object: one per cluster, kept in the store (kind `cluster`) so every manager
 * sharing the store sees the same CA certificate, join token verifiers and revocations. It
 * holds no secret in plain text (the CA's private key, the join token secrets and the admin
 * token are `ClusterKey`s, wrapped), yet the API never returns it and the event stream never
 * sends it.
 */
export const Cluster = Type.Composite([
  Meta,
  Type.Object({
    /** The root CA certificate (PEM). Its SHA-256 (DER) is the digest join tokens carry. */
    caCertificate: Type.String(),
    /**
     * What checks each role's join token (`joinTokenVerifier` in `join.ts`: a keyed hash of its
     * secret, never the secret). The secrets themselves are `ClusterKey`s (`join-token-worker`,
     * `join-token-manager`), wrapped. Rotating a token replaces both; joined nodes stay.
     */
    tokenVerifiers: Type.Object({ worker: Type.String(), manager: Type.String() }),
    /**
     * Older versions only: the join token secrets in plain text. A manager of this version moves
     * them into `tokenVerifiers` and wrapped `ClusterKey`s on start and drops this field.
     */
    tokenSecrets: Type.Optional(Type.Object({ worker: Type.String(), manager: Type.String() })),
    /** SHA-256 (hex) of the admin bearer token; the token itself is only in `admin/token`. */
    adminTokenSha256: Type.String(),
    /** Nodes removed from the cluster: their certificates are refused until they expire. */
    removedNodeIds: Type.Array(Type.String()),
  }),
]);
export type Cluster = Static<typeof Cluster>;

/** The algorithm every `ClusterKey` is wrapped with. */
export const KEY_WRAP_ALGORITHM = 'AES-256-GCM';

/**
 * A cluster-wide private key or secret, kept in the store (kind `clusterKey`) so that managers
 * sharing the store can share it: the id names what it is (`ca`: the root CA's key, PKCS#8 PEM;
 * `secrets`: the 32-byte secret sealing key; `join-token-worker`, `join-token-manager`: the
 * join token secrets; `admin-token`: the admin bearer token). It is wrapped (AES-256-GCM) under
 * a key-encryption key (KEK) that never enters the store: a file in each manager's data dir.
 * One record is the other way round: `kek-manager-token` is the KEK itself, wrapped under a key
 * derived from the manager join token (`wrappedUnder: 'managerToken'`), which is how another
 * manager joins. It holds secrets, so the API never returns it and the event stream never sends it.
 */
export const ClusterKey = Type.Composite([
  Meta,
  Type.Object({
    algorithm: Type.Literal(KEY_WRAP_ALGORITHM),
    /**
     * Which key-encryption key wrapped it: a fingerprint of that key (not the key). For the
     * record `wrappedUnder: 'managerToken'`: the fingerprint of the KEK it holds.
     */
    kekId: Type.String(),
    /**
     * Absent: wrapped under the KEK named by `kekId`. `managerToken`: the record is the KEK,
     * wrapped under a key derived from the manager join token's secret (HKDF-SHA256), with the
     * AAD `flotilla/clusterKey/<id>/<algorithm>/<kekId>/managerToken/<ca digest>`.
     */
    wrappedUnder: Type.Optional(Type.Literal('managerToken')),
    /**
     * base64 of `IV (12) ‖ GCM tag (16) ‖ ciphertext`; the additional authenticated data is
     * `flotilla/clusterKey/<id>/<algorithm>/<kekId>`, so a record copied under another id, or
     * relabelled, does not open.
     */
    wrapped: Type.String(),
  }),
]);
export type ClusterKey = Static<typeof ClusterKey>;

/** Who is on the other end of a TLS connection, from its client certificate. */
export type PeerIdentity =
  | { readonly kind: 'admin' }
  | { readonly kind: 'node'; readonly nodeId: string; readonly role: 'worker' | 'manager' }
  /**
   * Another manager of this cluster forwarding a request to the leader (its peer certificate,
   * `OU=peer`, `CN=<manager id>`): accepted only on the routes that need the leader's agent
   * sessions (docs/decisions.md, "Followers forward to the leader").
   */
  | { readonly kind: 'peer'; readonly managerId: string }
  /** No certificate, or one this cluster does not accept; `reason` says which, in one line. */
  | { readonly kind: 'none'; readonly reason: string };

/** The cluster with `nodeId` added to the removed nodes (pure; unchanged when already there). */
export function withRemovedNode(cluster: Cluster, nodeId: string): Cluster {
  if (cluster.removedNodeIds.includes(nodeId)) return cluster;
  return { ...cluster, removedNodeIds: [...cluster.removedNodeIds, nodeId] };
}
