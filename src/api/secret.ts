import { Type, type Static } from '@sinclair/typebox';
import { Labels, Meta, NAME_PATTERN, NAME_RULE } from './meta.ts';

/**
 * Secrets and configs: named blobs a task receives as read-only files. A secret's data is
 * sealed at rest (AES-256-GCM under a key in the manager's data directory), sent only to a node
 * that runs a task using it, and never returned by the API; a config's data is plain and may
 * be read back.
 */

export const FileObjectSpec = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_RULE }),
    labels: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
  },
  { additionalProperties: false },
);
export type FileObjectSpec = Static<typeof FileObjectSpec>;

/** `POST /v1/secrets` and `POST /v1/configs`: the spec and the data, base64-encoded. */
export const FileObjectCreate = Type.Object(
  {
    spec: FileObjectSpec,
    data: Type.String({ contentEncoding: 'base64', description: 'The content, base64-encoded (at most 500 KiB decoded).' }),
  },
  { additionalProperties: false },
);
export type FileObjectCreate = Static<typeof FileObjectCreate>;

/** A secret as the API shows it: never its data. */
export const Secret = Type.Composite([
  Meta,
  Type.Object({
    spec: FileObjectSpec,
    sizeBytes: Type.Integer({ minimum: 0 }),
  }),
]);
export type Secret = Static<typeof Secret>;

/** A secret as the store holds it: the API view plus the sealed data. */
export type StoredSecret = Secret & {
  /** base64 of (12-byte IV ‖ 16-byte GCM tag ‖ ciphertext). */
  readonly sealed: string;
};

export const Config = Type.Composite([
  Meta,
  Type.Object({
    spec: FileObjectSpec,
    /** The content, base64-encoded. */
    data: Type.String(),
  }),
]);
export type Config = Static<typeof Config>;

/** `GET /v1/secrets`. */
export const SecretList = Type.Array(Secret);
/** `GET /v1/configs`. */
export const ConfigList = Type.Array(Config);

/** Path parameter of `/v1/secrets/:idOrName` and `/v1/configs/:idOrName`. */
export const FileObjectRef = Type.Object({ idOrName: Type.String({ description: 'Id, name or unique id prefix.' }) });
export type FileObjectRef = Static<typeof FileObjectRef>;

export { Labels };
