import { Type, type Static } from '@sinclair/typebox';
import { StackBuild } from './build.ts';
import { Meta, NAME_PATTERN, NAME_RULE } from './meta.ts';

/** The label Swarm puts on every object of a stack, so tools that know Swarm stacks see them. */
export const STACK_LABEL = 'com.docker.stack.namespace';

/**
 * The `path` of an error detail of a refused stack that is not a problem but a warning the
 * compose loader found before the problems (an unset variable may be their cause); clients
 * print it as a warning, before the problems.
 */
export const STACK_WARNING_PATH = '(warning)';

/**
 * A file of a stack deploy: compose files, `.env`, `env_file`s, `extends` files, secret and
 * config files, keyed by their path relative to the project directory (the first compose
 * file's directory; `../x` for a file outside it, as the compose files reach it).
 */
export const StackFile = Type.Object(
  { path: Type.String({ minLength: 1 }), content: Type.String() },
  { additionalProperties: false },
);
export type StackFile = Static<typeof StackFile>;

/**
 * `POST /v1/stacks` (create or redeploy): the compose source and how to read it. The server
 * runs the compose loader on it; a loader that reads a file or a variable the request does not
 * carry makes a dry run answer with `needs`, and the client sends them (or lists them under
 * `missingFiles` / `unsetVariables`) and asks again. So the client never loads the files itself,
 * and sends only what the files use.
 */
export const StackSpec = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, errorMessage: NAME_RULE }),
    /** The compose files to merge, in order (keys among `files` or `missingFiles`). */
    composeFiles: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    files: Type.Array(StackFile),
    /** Files the loader asked for that the client does not have (keys, like `files`). */
    missingFiles: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    /** Enabled compose profiles. */
    profiles: Type.Array(Type.String(), { default: [] }),
    /** Variables for interpolation (the client's environment, as far as the files use it). */
    environment: Type.Object({}, { additionalProperties: Type.String(), default: {} }),
    /** Variables the loader asked for that are not set on the client. */
    unsetVariables: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    /**
     * The project directory on the client (absolute). Relative bind-mount sources resolve
     * against it, and messages name files under it, as the user knows them. Not stored.
     */
    workingDir: Type.Optional(Type.String({ pattern: '^/', errorMessage: 'expected an absolute path' })),
    /**
     * The built image each service with `build:` runs, by service key (docs/builds.md): the
     * client built them (`POST /v1/builds`) before the deploy; each must be in the cluster.
     */
    builtImages: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);
export type StackSpec = Static<typeof StackSpec>;

/** Ids of the objects a stack owns (not the external networks, secrets and configs it uses). */
export const StackResources = Type.Object({
  services: Type.Array(Type.String()),
  secrets: Type.Array(Type.String()),
  configs: Type.Array(Type.String()),
  networks: Type.Array(Type.String()),
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
  kind: Type.Union([Type.Literal('network'), Type.Literal('service'), Type.Literal('secret'), Type.Literal('config')]),
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

/** Files and variables the compose files read that a stack request did not carry. */
export const StackNeeds = Type.Object({
  /** File keys (relative to the project directory) to send, or to list under `missingFiles`. */
  files: Type.Array(Type.String()),
  /** Variable names to send, or to list under `unsetVariables`. */
  variables: Type.Array(Type.String()),
});
export type StackNeeds = Static<typeof StackNeeds>;

/**
 * The answer to `POST /v1/stacks?dryRun=true`: nothing is written. With `needs` not empty the
 * request lacks files or variables the loader read (send them and ask again); otherwise
 * `changes` are what a deploy would do now. Problems in the files are a 400, as for a deploy.
 */
export const StackDryRunResult = Type.Object({
  dryRun: Type.Literal(true),
  needs: StackNeeds,
  /** The builds the stack needs (services with `build:`): build them, then deploy with `builtImages`. */
  builds: Type.Optional(Type.Array(StackBuild)),
  changes: Type.Array(StackChange),
  warnings: Type.Array(Type.String()),
});
export type StackDryRunResult = Static<typeof StackDryRunResult>;

/** `GET /v1/stacks`. */
export const StackList = Type.Array(Stack);

/** Path parameter of `/v1/stacks/:name`. */
export const StackRef = Type.Object({ name: Type.String({ description: 'Stack name or id.' }) });
export type StackRef = Static<typeof StackRef>;

/** Query of `POST /v1/stacks`. */
export const StackDeployQuery = Type.Object(
  {
    prune: Type.Boolean({ default: false, description: 'Remove services (and unused networks, secrets and configs) of the stack that the files no longer have.' }),
    dryRun: Type.Boolean({ default: false, description: 'Load the files and plan the deploy, write nothing: problems, missing inputs (needs) and the changes a deploy would make.' }),
  },
  // A misspelt `dryRun` must be refused, never taken for a deploy.
  { additionalProperties: false },
);
export type StackDeployQuery = Static<typeof StackDeployQuery>;

/** The 200 answer of `POST /v1/stacks`: a deploy's result, or a dry run's. */
export const StackDeployResponse = Type.Union([StackDeployResult, StackDryRunResult]);
