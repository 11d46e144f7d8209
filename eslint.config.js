// @ts-check
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

const root = import.meta.dirname;

/*
 * Boundaries, kept by the linter (the layout is in docs and STYLE.md: "Components never import
 * each other's internals"). `import-x/no-restricted-paths` checks every import (type-only ones
 * too) of a file in a zone's `target` against its `from`; `except` names what stays allowed.
 * Globs are absolute, so the rule reads the same whatever directory eslint runs in.
 */

/** An absolute glob under the project root. */
const at = (/** @type {string} */ p) => join(root, p);

/** Test code: may use src/testing, which production code never does. */
const TEST_FILES = ['**/*.test.ts', 'src/testing/**', 'test/**', 'bench/**'];

/** Each folder of src/manager is a component; the files beside them (manager.ts) are the root. */
const managerComponents = readdirSync(join(root, 'src/manager'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

/**
 * What a manager component may import besides its own folder. Components talk to each other
 * only through the store (SwarmKit's rule): `api` (resource types, errors), `store` (tables,
 * watch) and `lib` (clock, logger, work queue). Each extra below says why.
 * @type {Record<string, readonly string[]>}
 */
const EXTRA_FOR_COMPONENT = {
  // The control API loads stacks on the server (`stack-load.ts`): the compose loader is a pure
  // library (text → stack objects through an injected file system), not a component.
  controlapi: ['src/compose'],
};

/** Zone: manager component `c` imports only api, store, lib (plus its extras) and itself. */
function managerComponentZone(/** @type {string} */ c, /** @type {{ test: boolean }} */ { test }) {
  const allowed = ['src/api', 'src/store', 'src/lib', ...(EXTRA_FOR_COMPONENT[c] ?? []), `src/manager/${c}`];
  // Tests may also use the fixtures and harnesses of src/testing and the typed client.
  if (test) allowed.push('src/testing', 'src/client');
  return {
    target: at(`src/manager/${c}/**`),
    from: at('src/**'),
    // src/testing from production code is the testing zone's to report (one error per import).
    except: [...allowed, ...(test ? [] : ['src/testing'])].map((p) => at(`${p}/**`)),
    message:
      `A manager component imports only ${allowed.filter((p) => p !== `src/manager/${c}`).join(', ')} and its own folder (src/manager/${c}): ` +
      'components talk through the store, and only the composition roots (src/manager/manager.ts, src/cli) wire them together. See eslint.config.js.',
  };
}

/** Zone: the agent never imports the manager (nor the CLI that wires both). */
const agentZone = {
  target: at('src/agent/**'),
  from: [at('src/manager/**'), at('src/cli/**')],
  message: 'The agent never imports the manager or the CLI: agent and manager meet only in the agent protocol (src/api/agent-protocol.ts), and only the CLI wires them together.',
};

/** Zone: the libraries are below every component and composition root. */
const libraryZone = {
  target: ['src/api', 'src/lib', 'src/store', 'src/compose', 'src/client'].map((p) => at(`${p}/**`)),
  from: [at('src/manager/**'), at('src/agent/**'), at('src/cli/**')],
  message: 'src/api, src/lib, src/store, src/compose and src/client are libraries: they never import the manager, the agent or the CLI.',
};

/** Zone: production code never imports src/testing. */
const testingZone = {
  target: at('src/**'),
  from: at('src/testing/**'),
  message: 'Production code never imports src/testing: only tests (*.test.ts), src/testing itself, test/ and bench/ do.',
};

/**
 * @param {{ test: boolean; agentManager?: boolean }} o
 * `agentManager: false` lifts the agent zone (one agent test drives a real dispatcher).
 */
function zones({ test, agentManager = true }) {
  return [
    ...managerComponents.map((c) => managerComponentZone(c, { test })),
    ...(agentManager ? [agentZone] : []),
    libraryZone,
    ...(test ? [] : [testingZone]),
  ];
}

const restrict = (/** @type {Parameters<typeof zones>[0]} */ o) => ({
  'import-x/no-restricted-paths': ['error', { basePath: root, zones: zones(o) }],
});

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'src/ui/dist/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: root },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's describe/it/test return promises the runner itself awaits.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'import-x/no-cycle': 'error',
    },
  },
  // Boundaries: production code, then tests (which may also use src/testing and the client).
  { files: ['src/**/*.ts'], ignores: TEST_FILES, rules: restrict({ test: false }) },
  { files: ['src/**/*.test.ts'], rules: restrict({ test: true }) },
  // The agent's end-to-end test runs the agent against a real dispatcher over a WebSocket.
  { files: ['src/agent/agent.test.ts'], rules: restrict({ test: true, agentManager: false }) },
);
