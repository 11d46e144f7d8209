import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';

/**
 * Images built from a stack's `build:` sections (docs/builds.md). The CLI packs each build
 * context as a tar, and the image's name is derived from the tar's digest and the build
 * options (`contentTag`), so an unchanged context has the same name and is not built again.
 * The manager keeps each built image as a `docker save` archive in a blob store; nodes fetch it
 * from the manager over their session. No registry is involved.
 */

/** The repository prefix of built images: no registry answers to it, so no engine pulls it. */
export const BUILT_IMAGE_DOMAIN = 'flotilla.local';

/** The image a service with `build:` names until it is built (never deployed: the deploy needs the built one). */
export const UNBUILT_IMAGE = `${BUILT_IMAGE_DOMAIN}/unbuilt`;

/** The options of one build, as the compose file gives them (after interpolation). */
export const BuildOptions = Type.Object(
  {
    /** Path of the Dockerfile inside the context; default `Dockerfile`. */
    dockerfile: Type.String({ minLength: 1, default: 'Dockerfile' }),
    target: Type.Optional(Type.String({ minLength: 1 })),
    args: Type.Record(Type.String(), Type.String(), { default: {} }),
    labels: Type.Record(Type.String(), Type.String(), { default: {} }),
  },
  { additionalProperties: false },
);
export type BuildOptions = Static<typeof BuildOptions>;

/** One build a stack needs: the service, where its context is on the client, how to build it. */
export const StackBuild = Type.Object({
  /** The service's key in the compose file. */
  service: Type.String(),
  /** The context directory, absolute, on the client (the loader resolved it against `workingDir`). */
  context: Type.String(),
  options: BuildOptions,
});
export type StackBuild = Static<typeof StackBuild>;

/** A built image the cluster holds (metadata; the archive is a blob on the manager). */
export const BuiltImage = Type.Object({
  id: Type.String(),
  version: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  labels: Type.Record(Type.String(), Type.String()),
  /** `flotilla.local/NAME:HASH`. */
  ref: Type.String(),
  /** The content hash in the tag (hex sha256 of the context digest and the options). */
  contentHash: Type.String(),
  /** sha256 of the saved archive (hex), its blob's name. */
  blobDigest: Type.String(),
  sizeBytes: Type.Integer({ minimum: 0 }),
  /** The node whose engine built it. */
  builtOn: Type.String(),
});
export type BuiltImage = Static<typeof BuiltImage>;

/**
 * One line of `POST /v1/builds`'s answer (newline-delimited JSON): the engine's progress, then
 * one `done` or `error`. `step` names the Dockerfile step that failed ("Step 2/3 : RUN false").
 */
export type BuildEvent =
  | { readonly progress: string }
  | { readonly done: BuiltImage; readonly cached: boolean }
  | { readonly error: BuildFailure };

/** Why a build did not produce an image: `build_failed` (the Dockerfile), `too_large`, `unavailable`. */
export interface BuildFailure {
  readonly code: string;
  readonly message: string;
  readonly step?: string;
}

/** How a build ended: the last event of `POST /v1/builds`. */
export type BuildOutcome = Extract<BuildEvent, { done: BuiltImage }> | Extract<BuildEvent, { error: BuildFailure }>;

/** Options as the query of `POST /v1/builds` carries them. */
export const BuildQuery = Type.Object({
  /** The image name (`STACK_SERVICE`); the tag is the content hash. */
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9_.-]{0,127}$' }),
  /** `BuildOptions` as JSON. */
  options: Type.String({ maxLength: 65536 }),
});
export type BuildQuery = Static<typeof BuildQuery>;

/** The largest build context the manager takes (bytes of tar). */
export const MAX_CONTEXT_BYTES = 512 * 1024 * 1024;

/** Options in one canonical form: keys sorted, defaults filled, so equal builds hash equally. */
export function canonicalOptions(o: BuildOptions): string {
  const sorted = (r: Record<string, string>): [string, string][] => Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify({ dockerfile: o.dockerfile, target: o.target ?? null, args: sorted(o.args), labels: sorted(o.labels) });
}

/** The content hash of a build: the context tar's sha256 (hex) and the canonical options. */
export function contentHash(contextDigest: string, options: BuildOptions): string {
  return createHash('sha256').update(`flotilla-build-v1\n${contextDigest}\n${canonicalOptions(options)}`).digest('hex');
}

/** The image reference a build is tagged with: `flotilla.local/NAME:HASH` (64 hex digits). */
export function builtImageRef(name: string, hash: string): string {
  return `${BUILT_IMAGE_DOMAIN}/${name}:${hash}`;
}

/** Whether `ref` names a built image (one that only the manager's blob store holds). */
export function isBuiltImageRef(ref: string): boolean {
  return ref.startsWith(`${BUILT_IMAGE_DOMAIN}/`);
}
