/**
 * The layout's boundaries are kept by the linter (`import-x/no-restricted-paths` in
 * eslint.config.js). These tests lint small source texts placed at paths inside the tree, with
 * the project's own (type-aware) config, and check that each forbidden import fails with the
 * rule's message and that the allowed ones pass.
 *
 * The texts are never written to disk. The project service only type-checks files it finds in
 * tsconfig's project, so the probe paths are handed to it as `allowDefaultProject` files: it
 * opens each in a default project from the text given, and every type-aware rule still runs
 * (the first lint loads the whole project, as `eslint` does: it takes as long as a type check).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';

const root = join(import.meta.dirname, '..');
const RULE = 'import-x/no-restricted-paths';

/** Every path a probe is linted at (relative to the project root); none exists on disk. */
const PROBES = [
  'src/manager/scheduler/boundary-probe.ts',
  'src/manager/scheduler/boundary-probe.test.ts',
  'src/manager/controlapi/boundary-probe.ts',
  'src/manager/boundary-probe.ts',
  'src/agent/boundary-probe.ts',
  'src/agent/executor/boundary-probe.ts',
  'src/store/boundary-probe.ts',
  'src/lib/boundary-probe.ts',
  'src/cli/boundary-probe.ts',
] as const;
type Probe = (typeof PROBES)[number];

const eslint = new ESLint({
  cwd: root,
  overrideConfig: {
    languageOptions: {
      parserOptions: {
        // Exact paths, not globs: only the probes are opened outside tsconfig's project.
        projectService: { allowDefaultProject: [...PROBES], maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: PROBES.length },
      },
    },
  },
});

/** Lints `code` as if it were the file at `path`; every message, whatever its rule. */
async function lint(path: Probe, code: string): Promise<{ ruleId: string | null; message: string; line: number }[]> {
  assert.ok(!existsSync(join(root, path)), `${path} must not exist: the probe stands in for it`);
  const [result] = await eslint.lintText(code, { filePath: join(root, path) });
  assert.ok(result, 'one result per text');
  return result.messages.map(({ ruleId, message, line }) => ({ ruleId, message, line }));
}

/** Asserts exactly one message: the boundary rule's, on line `line`, containing `why`. */
async function assertForbidden(path: Probe, code: string, why: string, line = 1): Promise<void> {
  const messages = await lint(path, code);
  assert.equal(messages.length, 1, `one error expected, got ${JSON.stringify(messages)}`);
  const [m] = messages;
  assert.equal(m?.ruleId, RULE);
  assert.equal(m?.line, line);
  assert.ok(m?.message.includes(why), `"${m?.message}" should say "${why}"`);
}

async function assertClean(path: Probe, code: string): Promise<void> {
  assert.deepEqual(await lint(path, code), []);
}

describe('lint boundaries', () => {
  describe('a manager component imports only api, store and lib', () => {
    it('fails on an import of a sibling component', async () => {
      await assertForbidden(
        'src/manager/scheduler/boundary-probe.ts',
        "import { Orchestrator } from '../orchestrator/orchestrator.ts';\nexport const probe = Orchestrator;\n",
        'A manager component imports only src/api, src/store, src/lib',
      );
    });

    it('fails on a type-only import of a sibling component', async () => {
      await assertForbidden(
        'src/manager/scheduler/boundary-probe.ts',
        "import type { DispatcherOptions } from '../dispatcher/options.ts';\nexport type Probe = DispatcherOptions;\n",
        'A manager component imports only',
      );
    });

    it('fails on an import of the composition root or the agent', async () => {
      await assertForbidden('src/manager/scheduler/boundary-probe.ts', "import { Manager } from '../manager.ts';\nexport const probe = Manager;\n", 'only the composition roots');
      await assertForbidden('src/manager/scheduler/boundary-probe.ts', "import { Agent } from '../../agent/agent.ts';\nexport const probe = Agent;\n", 'A manager component imports only');
    });

    it("fails in a component's test too, which may add only src/testing and the client", async () => {
      await assertForbidden(
        'src/manager/scheduler/boundary-probe.test.ts',
        "import { Allocator } from '../allocator/allocator.ts';\nexport const probe = Allocator;\n",
        'A manager component imports only src/api, src/store, src/lib, src/testing, src/client',
      );
    });

    it('passes api, store, lib and its own folder', async () => {
      await assertClean(
        'src/manager/scheduler/boundary-probe.ts',
        [
          "import { ApiError } from '../../api/errors.ts';",
          "import { Store } from '../../store/store.ts';",
          "import { systemClock } from '../../lib/clock.ts';",
          "import { Scheduler } from './scheduler.ts';",
          'export const probe = [ApiError, Store, systemClock, Scheduler];',
          '',
        ].join('\n'),
      );
    });

    it('passes the compose loader in the control API only', async () => {
      const code = "import { loadProject } from '../../compose/load.ts';\nexport const probe = loadProject;\n";
      await assertClean('src/manager/controlapi/boundary-probe.ts', code);
      await assertForbidden('src/manager/scheduler/boundary-probe.ts', code, 'A manager component imports only');
    });

    it('passes src/testing in tests', async () => {
      await assertClean(
        'src/manager/scheduler/boundary-probe.test.ts',
        "import { FakeClock } from '../../testing/fake-clock.ts';\nexport const probe = new FakeClock();\n",
      );
    });

    it('lets the composition roots wire components together', async () => {
      const code = "import { Scheduler } from './scheduler/scheduler.ts';\nimport { Orchestrator } from './orchestrator/orchestrator.ts';\nexport const probe = [Scheduler, Orchestrator];\n";
      await assertClean('src/manager/boundary-probe.ts', code);
      await assertClean(
        'src/cli/boundary-probe.ts',
        "import { Manager } from '../manager/manager.ts';\nimport { Agent } from '../agent/agent.ts';\nexport const probe = [Manager, Agent];\n",
      );
    });
  });

  describe('the agent never imports the manager', () => {
    it('fails on an import of the manager, from the root or from a part of the agent', async () => {
      await assertForbidden('src/agent/boundary-probe.ts', "import { Sessions } from '../manager/dispatcher/sessions.ts';\nexport const probe = Sessions;\n", 'The agent never imports the manager');
      await assertForbidden('src/agent/executor/boundary-probe.ts', "import type { Manager } from '../../manager/manager.ts';\nexport type Probe = Manager;\n", 'The agent never imports the manager');
    });

    it('passes api and lib', async () => {
      await assertClean('src/agent/boundary-probe.ts', "import { PROTOCOL_VERSION } from '../api/agent-protocol.ts';\nexport const probe = PROTOCOL_VERSION;\n");
    });
  });

  describe('the libraries never import manager, agent or CLI', () => {
    it('fails on each', async () => {
      await assertForbidden('src/store/boundary-probe.ts', "import { Manager } from '../manager/manager.ts';\nexport const probe = Manager;\n", 'are libraries');
      await assertForbidden('src/lib/boundary-probe.ts', "import { Agent } from '../agent/agent.ts';\nexport const probe = Agent;\n", 'are libraries');
      await assertForbidden('src/lib/boundary-probe.ts', "import { run } from '../cli/main.ts';\nexport const probe = run;\n", 'are libraries');
    });
  });

  describe('production code never imports src/testing', () => {
    it('fails in a manager component, the agent and a library', async () => {
      const why = 'Production code never imports src/testing';
      await assertForbidden('src/manager/scheduler/boundary-probe.ts', "import { makeNode } from '../../testing/fixtures.ts';\nexport const probe = makeNode;\n", why);
      await assertForbidden('src/agent/boundary-probe.ts', "import { FakeClock } from '../testing/fake-clock.ts';\nexport const probe = FakeClock;\n", why);
      await assertForbidden('src/lib/boundary-probe.ts', "import type { FakeClock } from '../testing/fake-clock.ts';\nexport type Probe = FakeClock;\n", why);
      await assertForbidden('src/cli/boundary-probe.ts', "import { startApi } from '../testing/api-harness.ts';\nexport const probe = startApi;\n", why);
    });
  });
});
