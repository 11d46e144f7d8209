import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../testing/cli.ts';
import { badYamlErrors } from '../testing/compose-errors.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const testdata = join(root, 'src', 'compose', 'testdata');

const cli = runCli;

/**
 * Golden files: `stack config` on compose files in the shape of public examples. The expected
 * output (`expected.yaml`, with the case directory written as `<dir>`) was checked by hand
 * against the Compose Specification's interpolation, merge and extends rules.
 * `UPDATE_GOLDEN=1` rewrites it.
 */
const cases: { name: string; files: string[]; profiles?: string[] }[] = [
  { name: 'webapp', files: ['compose.yaml', 'compose.override.yaml'] },
  { name: 'proxy', files: ['compose.yaml'] },
  { name: 'worker-queue', files: ['compose.yaml'], profiles: ['debug'] },
  { name: 'include', files: ['compose.yaml'] },
];

describe('flotilla stack config', () => {
  for (const c of cases) {
    it(`prints the resolved project: ${c.name}`, async () => {
      const dir = join(testdata, c.name);
      const argv = ['stack', 'config', ...c.files.flatMap((f) => ['-c', f]), ...(c.profiles ?? []).flatMap((p) => ['--profile', p])];
      const r = await cli(argv, dir);
      assert.equal(r.code, 0, r.stderr);
      const got = r.stdout.replaceAll(dir, '<dir>');
      const goldenPath = join(dir, 'expected.yaml');
      if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(goldenPath, got);
      assert.equal(got, readFileSync(goldenPath, 'utf8'));
      // The output is a compose file that loads to itself.
      const tmp = mkdtempSync(join(tmpdir(), 'flotilla-compose-'));
      try {
        writeFileSync(join(tmp, 'compose.yaml'), r.stdout);
        const again = await cli(['stack', 'config', '-c', 'compose.yaml', ...(c.profiles ?? []).flatMap((p) => ['--profile', p])], tmp);
        assert.equal(again.stdout, r.stdout, again.stderr);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  }

  it('accepts the demo stack in examples/', async () => {
    const r = await cli(['stack', 'config', '-c', 'examples/demo/compose.yaml'], root);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /mode: replicated-job/);
    assert.match(r.stdout, /condition: service_completed_successfully/);
  });

  it('prints one line per problem and exits 1', async () => {
    const dir = join(testdata, 'errors');
    const r = await cli(['stack', 'config', '-c', 'bad.yaml'], dir);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, badYamlErrors(dir));
  });

  it('reports a missing file and a bad flag', async () => {
    const missing = await cli(['stack', 'config', '-c', 'nope.yaml'], testdata);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `cannot read compose file ${testdata}/nope.yaml: no such file\n`);
    const noFile = await cli(['stack', 'config'], testdata);
    assert.equal(noFile.code, 2);
  });
});
