import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateServiceSpec } from '../api/validate.ts';
import { toServiceSpecs } from '../compose/convert.ts';
import { loadProject } from '../compose/load.ts';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { testSealingKey } from '../testing/sealing-key.ts';
import { runCli, type CliRun } from '../testing/cli.ts';
import { BAD_STACK_CASES, BAD_STACKS_DIR, badYamlErrors } from '../testing/compose-errors.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const testdata = join(root, 'src', 'compose', 'testdata');

/**
 * `stack deploy` has the server load the compose files: the CLI only reads what the dry runs
 * ask for. The result must be what loading the files locally gives, the stored source must
 * carry no path of the client, and a broken file must print exactly what `stack config` prints.
 */
describe('flotilla stack deploy', () => {
  let h: ApiHarness;
  beforeEach(async () => {
    h = await startApi({ listen: true, secrets: testSealingKey() });
  });
  afterEach(async () => {
    await h.close();
  });

  const env = (): Record<string, string> => ({ HOME: '/home/test', FLOTILLA_HOST: `unix://${h.socketPath}` });
  const cli = (argv: string[], cwd: string, extra: Record<string, string> = {}): Promise<CliRun> => runCli(argv, cwd, { ...env(), ...extra });

  const cases: Array<{ name: string; files: string[]; profiles?: string[]; vars?: Record<string, string> }> = [
    { name: 'webapp', files: ['compose.yaml', 'compose.override.yaml'], vars: { WEB_TAG: '2.1' } },
    { name: 'proxy', files: ['compose.yaml'] },
    { name: 'worker-queue', files: ['compose.yaml'], profiles: ['debug'] },
    { name: 'include', files: ['compose.yaml'] },
  ];
  for (const c of cases) {
    it(`deploys ${c.name} as loading it locally would, and stores no client path`, async () => {
      const dir = join(testdata, c.name);
      const argv = ['stack', 'deploy', ...c.files.flatMap((f) => ['-c', f]), ...(c.profiles ?? []).flatMap((p) => ['--profile', p]), 'st'];
      const r = await cli(argv, dir, c.vars);
      assert.equal(r.code, 0, r.stderr);
      const local = loadProject({ files: c.files, cwd: dir, env: { HOME: '/home/test', ...c.vars }, profiles: c.profiles ?? [], projectName: 'st' });
      const expected = toServiceSpecs(local.project, 'st');
      for (const want of expected.services) {
        const got = h.store.services.byName(want.name);
        assert.ok(got, want.name);
        // Secret and config references carry the real object ids only on the server.
        const refs = (s: typeof got.spec): unknown => ({ ...s, taskTemplate: { ...s.taskTemplate, container: { ...s.taskTemplate.container, secrets: [], configs: [] } } });
        assert.deepEqual(refs(got.spec), refs(validateServiceSpec(want)), want.name);
      }
      assert.equal(h.store.services.all().length, expected.services.length);
      const stack = h.store.table('stack').by('name', 'st')[0];
      assert.ok(stack);
      assert.deepEqual(stack.spec.composeFiles, c.files);
      assert.ok(!JSON.stringify(stack.spec).includes(dir), 'no client path in the stored source');
      assert.equal(stack.spec.workingDir, undefined);
      for (const f of stack.spec.files) assert.ok(!f.path.startsWith('/'), f.path);
    });
  }

  it('sends only the files and variables the compose files use, keeps secret files out of the source', async () => {
    const dir = join(testdata, 'worker-queue');
    const r = await cli(['stack', 'deploy', '-c', 'compose.yaml', 'wq'], dir, { CONCURRENCY: '8', UNRELATED: 'x' });
    assert.equal(r.code, 0, r.stderr);
    const stack = h.store.table('stack').by('name', 'wq')[0];
    assert.deepEqual(stack?.spec.files.map((f) => f.path).sort(), ['compose.yaml', 'worker.env']);
    assert.deepEqual([...(stack?.spec.missingFiles ?? [])].sort(), ['.env', 'worker.local.env']);
    assert.deepEqual(stack?.spec.environment, { CONCURRENCY: '8', HOME: '/home/test' });
    assert.equal(h.store.table('secret').by('name', 'wq_queue_password')[0]?.sizeBytes, 6);
    assert.match(r.stdout, /Creating secret wq_queue_password/);
    assert.match(r.stdout, /Creating service wq_worker/);
  });

  it('sends the included files (and their .env, env files, nested includes) and deploys the included services', async () => {
    const dir = join(testdata, 'include');
    const r = await cli(['stack', 'deploy', '-c', 'compose.yaml', 'inc'], dir);
    assert.equal(r.code, 0, r.stderr);
    const stack = h.store.table('stack').by('name', 'inc')[0];
    assert.deepEqual(stack?.spec.files.map((f) => f.path).sort(), [
      'cache/cache.env', 'cache/compose.override.yaml', 'cache/compose.yaml', 'compose.yaml', 'db/.env', 'db/compose.yaml', 'db/db.env', 'db/metrics/compose.yaml',
    ]);
    assert.deepEqual([...(stack?.spec.missingFiles ?? [])].sort(), ['.env', 'db/metrics/.env']);
    assert.deepEqual(h.store.services.all().map((s) => s.spec.name).sort(), ['inc_cache', 'inc_db', 'inc_exporter', 'inc_web']);
    assert.equal(h.store.services.byName('inc_db')?.spec.taskTemplate.container.image, 'postgres:16');
    assert.equal(h.store.services.byName('inc_cache')?.spec.taskTemplate.container.image, 'redis:7.2');
  });

  it('stack config says what stack deploy says: the same warnings, the same refusals, the same exit code', async () => {
    const dir = join(testdata, 'agree');
    const expected: Record<string, { code: number; stderr: RegExp[] }> = {
      'warnings.yaml': { code: 0, stderr: [/^warning: the "MODE" variable is not set/, /^warning: service db: field `privileged` is not supported yet; ignored$/, /^warning: service web: field `post_start` is a lifecycle hook/, /^warning: \S+\/warnings.yaml: container_name \(db, web\), expose \(web\) have no meaning in a cluster/] },
      'build-only.yaml': { code: 1, stderr: [/^warning: the "TOKEN" variable is not set/, /build-only.yaml:4:12: services.app.build.context: https:\/\/github.com\/example\/app.git is a remote context, which is not supported/] },
      'refused.yaml': { code: 1, stderr: [/^warning: the "IMAGE" variable is not set/, /refused.yaml:4:5: services.llm.provider: provider services .* are not supported/, /refused.yaml:7:12: services.web.image: the image is empty/] },
      'duplicate-env.yaml': { code: 1, stderr: [/duplicate-env.yaml:5:29: services.worker.environment\[2\]: "A=1" is listed twice/] },
    };
    for (const [file, want] of Object.entries(expected)) {
      const config = await cli(['stack', 'config', '-q', '-c', file], dir);
      const deploy = await cli(['stack', 'deploy', '-c', file, 'agree'], dir);
      assert.equal(config.code, want.code, `${file}: ${config.stderr}`);
      assert.equal(deploy.code, want.code, `${file}: ${deploy.stderr}`);
      assert.equal(deploy.stderr, config.stderr, file);
      const lines = config.stderr.trimEnd().split('\n');
      assert.equal(lines.length, want.stderr.length, `${file}: ${config.stderr}`);
      want.stderr.forEach((re, i) => assert.match(lines[i] ?? '', re, file));
    }
    const web = h.store.services.byName('agree_web');
    assert.equal(web?.spec.taskTemplate.restartPolicy.condition, 'any');
    assert.equal(h.store.services.byName('agree_db')?.spec.taskTemplate.restartPolicy.maxAttempts, 3);
  });

  it('prints each problem of a broken file as stack config does, and changes nothing', async () => {
    const dir = join(testdata, 'errors');
    const rev = h.store.revision;
    const r = await cli(['stack', 'deploy', '-c', 'bad.yaml', 'broken'], dir);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, badYamlErrors(dir));
    const missing = await cli(['stack', 'deploy', '-c', 'nope.yaml', 'broken'], testdata);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, `cannot read compose file ${testdata}/nope.yaml: no such file\n`);
    assert.equal(h.store.revision, rev);
  });

  it('rejects each kind of malformed file of the integration suite with file:line:column', async () => {
    const rev = h.store.revision;
    for (const [file, expected] of BAD_STACK_CASES) {
      const r = await cli(['stack', 'deploy', '-c', join(BAD_STACKS_DIR, file), 'broken'], root);
      assert.equal(r.code, 1, `${file}: ${r.stderr}`);
      assert.match(r.stderr, expected, file);
    }
    assert.equal(h.store.revision, rev);
  });
});
