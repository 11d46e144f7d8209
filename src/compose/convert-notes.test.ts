import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toServiceSpecs } from './convert.ts';
import { isComposeError } from './errors.ts';
import { loadProject } from './load.ts';
import { memFs } from './mem-fs.ts';
import { loadAndConvert } from './stack.ts';

const files = (yaml: string, extra: Record<string, string> = {}) => memFs({ '/p/compose.yaml': yaml, ...extra });
const project = (yaml: string, extra: Record<string, string> = {}) => loadProject({ files: ['/p/compose.yaml'], env: {}, fs: files(yaml, extra) }).project;

/** The lines of the ComposeError `f` throws. */
function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (err) {
    assert.ok(isComposeError(err), String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a ComposeError');
}

describe('toServiceSpecs: less noise, better words', () => {
  it('maps restart: when deploy.restart_policy is absent, silently', () => {
    const out = toServiceSpecs(project(`
services:
  always: {image: x, restart: always}
  stopped: {image: x, restart: unless-stopped}
  never: {image: x, restart: "no"}
  failing: {image: x, restart: "on-failure:3"}
  explicit: {image: x, restart: "no", deploy: {restart_policy: {condition: any, delay: 1s}}}
  job: {image: x, restart: always, deploy: {mode: replicated-job}}
`), 'st');
    const rp = (n: string) => out.services.find((s) => s.name === `st_${n}`)?.taskTemplate.restartPolicy;
    assert.equal(rp('always')?.condition, 'any');
    assert.deepEqual(rp('always'), rp('stopped'));
    assert.equal(rp('never')?.condition, 'none');
    assert.equal(rp('failing')?.condition, 'on-failure');
    assert.equal(rp('failing')?.maxAttempts, 3);
    assert.equal(rp('explicit')?.condition, 'any');
    assert.equal(rp('explicit')?.delayMs, 1000);
    assert.equal(rp('job')?.condition, 'on-failure');
    assert.deepEqual(out.warnings, ['service job: field `restart` ("always") does not apply to a job, whose tasks are restarted only on failure; ignored']);
    assert.deepEqual(problems(() => toServiceSpecs(project('services:\n  web: {image: x, restart: sometimes}\n'), 'st')), [
      '/p/compose.yaml:2:28: services.web.restart: invalid restart policy "sometimes": expected "no", "always", "on-failure", "on-failure:N" or "unless-stopped"',
    ]);
  });

  it('one note per file, listing the services, for fields with no meaning in a cluster', () => {
    const p = loadProject({
      files: ['/p/compose.yaml', '/p/override.yaml'],
      env: {},
      fs: files('services:\n  web: {image: x, container_name: web, expose: [80]}\n  db: {image: y, container_name: db, links: [web]}\n', {
        '/p/override.yaml': 'services:\n  cache: {image: z, container_name: cache}\n',
      }),
    }).project;
    assert.deepEqual(toServiceSpecs(p, 'st').warnings, [
      '/p/compose.yaml: container_name (db, web), expose (web), links (db) have no meaning in a cluster (tasks are named by the cluster, services reach each other by name on their networks); ignored',
      '/p/override.yaml: container_name (cache) has no meaning in a cluster (tasks are named by the cluster, services reach each other by name on their networks); ignored',
    ]);
  });

  it('lifecycle hooks and pull_refresh_after are known: warned, never "did you mean"', () => {
    const out = toServiceSpecs(project(`
services:
  web:
    image: x
    pre_start: [{command: [init]}]
    post_start: [{command: [warm]}]
    pre_stop: [{command: [drain]}]
    pull_policy: daily
    pull_refresh_after: 24h
`), 'st');
    assert.deepEqual(out.warnings, [
      'service web: field `pre_start` is a lifecycle hook, which Flotilla does not run yet; ignored',
      'service web: field `post_start` is a lifecycle hook, which Flotilla does not run yet; ignored',
      'service web: field `pre_stop` is a lifecycle hook, which Flotilla does not run yet; ignored',
      'service web: field `pull_policy` is not supported yet; ignored',
      'service web: field `pull_refresh_after` is not supported yet; ignored',
    ]);
  });

  it('refuses provider services and an empty image, each with its reason', () => {
    assert.deepEqual(problems(() => project('services:\n  llm:\n    provider: {type: model, options: {model: ai/smollm2}}\n')), [
      '/p/compose.yaml:3:5: services.llm.provider: provider services (run by a Compose plugin, not as containers) are not supported: Flotilla runs containers only',
    ]);
    assert.deepEqual(problems(() => project('services:\n  web:\n    image: ""\n')), ['/p/compose.yaml:3:12: services.web.image: the image is empty (an unset variable?): give an image (or a build)']);
  });

  it('refuses a list-form environment entry given twice, as Docker Compose does; a later value of a key wins', () => {
    assert.deepEqual(problems(() => project('services:\n  web:\n    image: x\n    environment: [A=1, B=2, A=1]\n')), [
      '/p/compose.yaml:4:29: services.web.environment[2]: "A=1" is listed twice (also at [0]): list items must be unique',
    ]);
    assert.deepEqual(project('services:\n  web:\n    image: x\n    environment: [A=1, A=2]\n').services['web']?.environment, { A: '2' });
  });

  it('a failed load or conversion still carries the warnings found before it', () => {
    const fs = files('services:\n  web:\n    image: "${TAG}"\n    container_name: web\n    build: .\n  db:\n    image: y\n    deploy: {replicas: "${N}"}\n');
    try {
      loadAndConvert({ files: ['/p/compose.yaml'], env: { N: 'two' }, fs });
      assert.fail('expected a ComposeError');
    } catch (err) {
      assert.ok(isComposeError(err));
      assert.deepEqual(err.warnings, ['the "TAG" variable is not set; defaulting to a blank string']);
      assert.equal(err.problems[0]?.path, 'services.db.deploy.replicas');
    }
    try {
      loadAndConvert({ files: ['/p/compose.yaml'], env: { N: '2' }, fs });
      assert.fail('expected a ComposeError');
    } catch (err) {
      assert.ok(isComposeError(err));
      assert.equal(err.warnings.length, 2);
      assert.match(err.warnings[1] ?? '', /container_name \(web\) has no meaning/);
    }
  });

  it('a secret read from a variable needs the variable set, on the client as on the manager', () => {
    const fs = files('services:\n  web: {image: x, secrets: [token]}\nsecrets:\n  token:\n    environment: TOKEN\n');
    assert.deepEqual(problems(() => loadAndConvert({ files: ['/p/compose.yaml'], env: {}, fs })), ['/p/compose.yaml:5:18: secrets.token.environment: variable TOKEN is not set']);
    assert.equal(loadAndConvert({ files: ['/p/compose.yaml'], env: { TOKEN: 't' }, fs }).converted.secrets.length, 1);
  });
});
