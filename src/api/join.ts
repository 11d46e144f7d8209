import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';

/**
 * Joining a cluster: the join token format and the bodies of `POST /v1/join` and
 * `POST /v1/renew`. Shared by the manager's CA (which issues) and the agent (which joins).
 *
 * A token is `FLT1-<ca digest>-<secret>`: the SHA-256 of the cluster root CA certificate (DER,
 * 64 hex characters) and a 32-character base-36 secret. The digest lets a joining node check
 * it talks to the right cluster before it sends anything; the secret says which role it may
 * join as (the worker and manager tokens have different secrets).
 */
export const TOKEN_PREFIX = 'FLT1';

export interface JoinToken {
  /** SHA-256 of the root CA certificate's DER bytes, lowercase hex. */
  readonly caDigest: string;
  readonly secret: string;
}

const TOKEN_PATTERN = /^FLT1-([0-9a-f]{64})-([0-9a-z]{32})$/;

/** Parses a token; an error message saying what is wrong instead of throwing. */
export function parseJoinToken(text: string): JoinToken | { error: string } {
  const m = TOKEN_PATTERN.exec(text.trim());
  if (!m) return { error: 'malformed join token: expected FLT1-<64 hex digits>-<32 characters>, as `flotilla token worker` prints it' };
  return { caDigest: m[1] ?? '', secret: m[2] ?? '' };
}

export function formatJoinToken(token: JoinToken): string {
  return `${TOKEN_PREFIX}-${token.caDigest}-${token.secret}`;
}

/** A fresh token secret. */
export function newTokenSecret(): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  return [...randomBytes(32)].map((b) => alphabet[b % 36]).join('');
}

/**
 * What the store keeps to check a join token instead of its secret: HKDF-SHA256 of the secret,
 * salted with the token's CA digest, under a label of its own (64 hex digits). It verifies a
 * presented token (compare in constant time) but reveals nothing that derives any other key
 * from the secret: the key that wraps the key-encryption key for managers is derived from the
 * same secret under another label (`src/manager/keys/`).
 */
export function joinTokenVerifier(token: JoinToken): string {
  return Buffer.from(hkdfSync('sha256', token.secret, Buffer.from(token.caDigest, 'hex'), 'flotilla/join-token/verifier/v1', 32)).toString('hex');
}

/** The digest a token carries for a CA certificate given as PEM. */
export function caDigest(caCertificatePem: string): string {
  const b64 = caCertificatePem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(b64, 'base64')).digest('hex');
}

/** `GET /v1/ca`: the cluster root certificate; open to anyone (it is public). */
export const CaResponse = Type.Object({ certificate: Type.String() });
export type CaResponse = Static<typeof CaResponse>;

/**
 * `POST /v1/join`: a new node asks for its certificate. `csr` is a PKCS#10 request (PEM) for
 * an ECDSA P-256 key the node generated and keeps. Refused with 401 `unauthenticated` for a
 * wrong token; nothing is created then.
 */
export const JoinRequest = Type.Object(
  {
    token: Type.String(),
    csr: Type.String(),
    hostname: Type.String(),
  },
  { additionalProperties: false },
);
export type JoinRequest = Static<typeof JoinRequest>;

/**
 * The node's identity: its certificate (subject CN = node id, OU = role, O = cluster id),
 * signed by the cluster CA, and the CA certificate to trust.
 */
export const JoinResponse = Type.Object({
  nodeId: Type.String(),
  role: Type.Union([Type.Literal('worker'), Type.Literal('manager')]),
  certificate: Type.String(),
  ca: Type.String(),
});
export type JoinResponse = Static<typeof JoinResponse>;

/** `POST /v1/renew`, authenticated by the node's current client certificate. */
export const RenewRequest = Type.Object({ csr: Type.String() }, { additionalProperties: false });
export type RenewRequest = Static<typeof RenewRequest>;
export const RenewResponse = Type.Object({ certificate: Type.String(), ca: Type.String() });
export type RenewResponse = Static<typeof RenewResponse>;

/** `GET /v1/tokens` and `POST /v1/tokens/{worker|manager}/rotate` (admin only). */
export const TokensResponse = Type.Object({ worker: Type.String(), manager: Type.String() });
export type TokensResponse = Static<typeof TokensResponse>;

/** Path parameter of `POST /v1/tokens/:role/rotate`. */
export const TokenRole = Type.Object({ role: Type.Union([Type.Literal('worker'), Type.Literal('manager')]) });
export type TokenRole = Static<typeof TokenRole>;
