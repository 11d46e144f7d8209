import { Type, type Static } from '@sinclair/typebox';
import { Meta } from './meta.ts';

/**
 * The cluster object: one per cluster, kept in the store (kind `cluster`) so every manager
 * sharing the store sees the same CA certificate, join token secrets and revocations. It holds
 * secrets, so the API never returns it and the event stream never sends it. The CA's private
 * key is not here: it stays in the manager's data dir (`ca/ca.key`).
 */
export const Cluster = Type.Composite([
  Meta,
  Type.Object({
    /** The root CA certificate (PEM). Its SHA-256 (DER) is the digest join tokens carry. */
    caCertificate: Type.String(),
    /** Join token secrets by role; rotating one replaces it and leaves joined nodes alone. */
    tokenSecrets: Type.Object({ worker: Type.String(), manager: Type.String() }),
    /** SHA-256 (hex) of the admin bearer token; the token itself is only in `admin/token`. */
    adminTokenSha256: Type.String(),
    /** Nodes removed from the cluster: their certificates are refused until they expire. */
    removedNodeIds: Type.Array(Type.String()),
  }),
]);
export type Cluster = Static<typeof Cluster>;

/** Who is on the other end of a TLS connection, from its client certificate. */
export type PeerIdentity =
  | { readonly kind: 'admin' }
  | { readonly kind: 'node'; readonly nodeId: string; readonly role: 'worker' | 'manager' }
  /** No certificate, or one this cluster does not accept; `reason` says which, in one line. */
  | { readonly kind: 'none'; readonly reason: string };

/** The cluster with `nodeId` added to the removed nodes (pure; unchanged when already there). */
export function withRemovedNode(cluster: Cluster, nodeId: string): Cluster {
  if (cluster.removedNodeIds.includes(nodeId)) return cluster;
  return { ...cluster, removedNodeIds: [...cluster.removedNodeIds, nodeId] };
}
