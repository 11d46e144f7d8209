import { Type, type Static } from '@sinclair/typebox';
import { Meta, NAME_PATTERN, NAME_RULE } from './meta.ts';

/** The label Swarm puts on every object of a stack, so tools that know Swarm stacks see them. */
export const STACK_LABEL = 'com.docker.stack.namespace';

/**
 * A file of a stack deploy: compose files, `.env`, `env_file`s, secret and config files. The
 * client sends every file the compose loader reads, so the server resolves the stack exactly
 * as the client would, and keeps the source.
 */
export const StackFile = Type.Object(
  { path: Type.String({ minLength: 1 }), content: Type.String() },
  { additionalProperties: false },
);
export type StackFile = Static<typeof StackFile>;

/** `POST /v1/stacks` (create or redeploy): the compose source and how to read it. */
export const StackSpec = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_RULE }),
    /** The compose files to merge, in order (paths among `files`). */
    composeFiles: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    files: Type.Array(StackFile),
    /** Enabled compose profiles. */
    profiles: Type.Array(Type.String(), { default: [] }),
    /** Variables for interpolation (the client's environment, as far as the files use it). */
    environment: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
  },
  { additionalProperties: false },
);
export type StackSpec = Static<typeof StackSpec>;

/** Ids of the objects a stack owns. */
export const StackResources = Type.Object({
  services: Type.Array(Type.String()),
  secrets: Type.Array(Type.String()),
  configs: Type.Array(Type.String()),
});
export type StackResources = Static<typeof StackResources>;

export const Stack = Type.Composite([
  Meta,
  Type.Object({
    spec: StackSpec,
    resources: StackResources,
    /** One line per compose field Flotilla does not support (never dropped silently). */
    warnings: Type.Array(Type.String()),
  }),
]);
export type Stack = Static<typeof Stack>;

/** What a deploy did to one object of the stack. `kept`: no longer in the files, left in place (no `prune`). */
export const StackChange = Type.Object({
  kind: Type.Union([Type.Literal('service'), Type.Literal('secret'), Type.Literal('config')]),
  name: Type.String(),
  action: Type.Union([Type.Literal('created'), Type.Literal('updated'), Type.Literal('unchanged'), Type.Literal('removed'), Type.Literal('kept')]),
});
export type StackChange = Static<typeof StackChange>;

/** The answer to `POST /v1/stacks`: the stack as stored, and what changed, in order. */
export const StackDeployResult = Type.Object({
  stack: Stack,
  changes: Type.Array(StackChange),
  /** Same as `stack.warnings`: one line per compose field Flotilla does not support. */
  warnings: Type.Array(Type.String()),
});
export type StackDeployResult = Static<typeof StackDeployResult>;
