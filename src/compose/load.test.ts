import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadErrorOf, loadFiles } from '../testing/compose-load.ts';

const load = loadFiles;
const errorOf = loadErrorOf;

describe('loadProject: errors name file:line:column and the field path', () => {
  it('bad YAML', () => {
    assert.equal(errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: [x\n' }, 'syntax').split('\n')[0]?.slice(0, 30), '/p/compose.yaml:4:1: invalid Y');
    assert.equal(errorOf({ '/p/compose.yaml': 'services:\n  a: {image: x}\n  a: {image: y}\n' }, 'syntax'), '/p/compose.yaml:3:3: invalid YAML: duplicate key "a" (first at line 2, column 3)');
  });
  it('wrong types', () => {
    const msg = errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    deploy:\n      replicas: three\n    ports: 80\n' }, 'type');
    assert.equal(msg, [
      '/p/compose.yaml:5:17: services.web.deploy.replicas: expected an integer, got "three"',
      '/p/compose.yaml:6:12: services.web.ports: expected a list, got 80',
    ].join('\n'));
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    stop_grace_period: soon\n' }, 'type'),
      '/p/compose.yaml:4:24: services.web.stop_grace_period: expected a duration like 10s, 1m30s or 500ms, got "soon"',
    );
  });
  it('a file that is not a mapping', () => {
    assert.equal(errorOf({ '/p/compose.yaml': '- a\n- b\n' }, 'type'), '/p/compose.yaml:1:1: expected a mapping of top-level keys (services, networks, …), got a list');
  });
  it('interpolated values are cast to the field type', () => {
    const { project } = load({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    deploy: {replicas: "${N}"}\n    init: "${I}"\n' }, { env: { N: '3', I: 'true' } });
    assert.equal(project.services['web']?.deploy?.replicas, 3);
    assert.equal(project.services['web']?.init, true);
  });
  it('unknown keys, with did-you-mean', () => {
    assert.equal(
      errorOf({ '/p/compose.yaml': 'servics:\n  web: {image: x}\n' }, 'unknown_key'),
      '/p/compose.yaml:1:1: servics: unknown top-level key, did you mean "services"?',
    );
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    enviroment: {A: 1}\n    x-ok: fine\n' }, 'unknown_key'),
      '/p/compose.yaml:4:5: services.web.enviroment: unknown key, did you mean "environment"?',
    );
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    deploy: {mode: globl}\n' }, 'type'),
      '/p/compose.yaml:4:20: services.web.deploy.mode: expected one of "replicated", "global", "replicated-job", "global-job", got "globl"; did you mean "global"?',
    );
  });
  it('missing required variables', () => {
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  db:\n    image: postgres\n    environment:\n      PASSWORD: ${DB_PASSWORD:?set it in .env}\n' }, 'variable'),
      '/p/compose.yaml:5:17: services.db.environment.PASSWORD: required variable DB_PASSWORD is missing a value: set it in .env',
    );
  });
  it('a secret file that does not exist', () => {
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw:\n    file: ./pw.txt\n' }, 'missing_file'),
      '/p/compose.yaml:7:11: secrets.pw.file: secret file /p/pw.txt does not exist',
    );
  });
  it('a dependency cycle, with its path', () => {
    const files = { '/p/compose.yaml': 'services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on:\n      c: {condition: service_healthy}\n  c:\n    image: x\n    depends_on: [a]\n' };
    assert.equal(errorOf(files, 'cycle'), '/p/compose.yaml:11:18: services.c.depends_on.a: dependency cycle: a -> b -> c -> a');
  });
  it('references to undefined services, volumes, secrets and networks', () => {
    const msg = errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    depends_on: [ghost]\n    volumes: [data:/d]\n    secrets: [s]\n    networks: [net]\n' }, 'reference');
    assert.equal(msg, [
      '/p/compose.yaml:4:18: services.web.depends_on.ghost: depends on undefined service "ghost"',
      '/p/compose.yaml:5:15: services.web.volumes[0]: refers to undefined volume "data": declare it under the top-level "volumes"',
      '/p/compose.yaml:6:15: services.web.secrets[0]: refers to undefined secret "s": declare it under the top-level "secrets"',
      '/p/compose.yaml:7:16: services.web.networks.net: refers to undefined network "net": declare it under the top-level "networks"',
    ].join('\n'));
  });
  it('a service without an image', () => {
    assert.equal(errorOf({ '/p/compose.yaml': 'services:\n  web:\n    command: [x]\n' }, 'type'), '/p/compose.yaml:3:5: services.web: missing required key "image" (or "build")');
  });
  it('a missing compose file and a missing required env_file', () => {
    assert.equal(errorOf({}, 'missing_file'), 'cannot read compose file /p/compose.yaml: no such file');
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  web:\n    image: x\n    env_file: [a.env, {path: b.env, required: false}, c.env]\n' }, 'missing_file'),
      '/p/compose.yaml:4:16: services.web.env_file[0]: env file /p/a.env not found\n/p/compose.yaml:4:55: services.web.env_file[2]: env file /p/c.env not found',
    );
  });
});

describe('loadProject: the model', () => {
  it('.env feeds interpolation; the environment wins over it', () => {
    const files = { '/p/compose.yaml': 'services:\n  web:\n    image: "app:${TAG}"\n    environment: ["MODE=${MODE}"]\n', '/p/.env': 'TAG=1.0\nMODE=dev\n' };
    const { project } = load(files, { env: { MODE: 'prod' } });
    assert.equal(project.services['web']?.image, 'app:1.0');
    assert.deepEqual(project.services['web']?.environment, { MODE: 'prod' });
  });
  it('warns once per unset variable and about an obsolete version', () => {
    const { warnings } = load({ '/p/compose.yaml': 'version: "3.8"\nservices:\n  web:\n    image: "app:$TAG"\n    labels: [a=$TAG]\n' });
    assert.deepEqual(warnings, ['the "TAG" variable is not set; defaulting to a blank string', '/p/compose.yaml:1:1: the top-level "version" is obsolete and ignored']);
  });
  it('merges override files by the specification’s rules', () => {
    const base = [
      'services:',
      '  web:',
      '    image: app:1',
      '    command: [serve, --port, "80"]',
      '    environment: {A: "1", B: "2"}',
      '    labels: [x=1]',
      '    ports: ["8080:80"]',
      '    volumes: ["data:/data", "logs:/logs"]',
      '    expose: ["80"]',
      '    cap_add: [NET_ADMIN]',
      '    deploy: {replicas: 1, placement: {constraints: [node.role==worker]}}',
      'volumes: {data: {}, logs: {}, other: {}}',
    ].join('\n');
    const over = [
      'services:',
      '  web:',
      '    image: app:2',
      '    command: serve --debug',
      '    environment: [B=3, C=4]',
      '    labels: {y: "2"}',
      '    ports: ["8080:80", "9090:90"]',
      '    volumes: ["other:/data"]',
      '    expose: ["80", "81"]',
      '    deploy: {replicas: 3, placement: {constraints: [node.labels.zone==a]}}',
      '  db:',
      '    image: postgres',
    ].join('\n');
    const { project } = load({ '/p/compose.yaml': base, '/p/override.yaml': over }, { files: ['compose.yaml', 'override.yaml'] });
    const web = project.services['web'];
    assert.equal(web?.image, 'app:2');
    assert.deepEqual(web?.command, ['serve', '--debug']);
    assert.deepEqual(web?.environment, { A: '1', B: '3', C: '4' });
    assert.deepEqual(web?.labels, { x: '1', y: '2' });
    assert.deepEqual(web?.ports?.map((p) => `${p.published}:${p.target}`), ['8080:80', '9090:90']);
    assert.deepEqual(web?.volumes?.map((v) => `${v.source}:${v.target}`), ['other:/data', 'logs:/logs']);
    assert.deepEqual(web?.expose, ['80', '81']);
    assert.deepEqual(web?.cap_add, ['NET_ADMIN']);
    assert.deepEqual(web?.deploy?.placement?.constraints, ['node.role==worker', 'node.labels.zone==a']);
    assert.equal(web?.deploy?.replicas, 3);
    assert.ok(project.services['db']);
  });
  it('!reset removes and !override replaces a field', () => {
    const base = 'services:\n  web:\n    image: x\n    ports: ["80:80"]\n    environment: {A: "1"}\n';
    const over = 'services:\n  web:\n    ports: !override ["81:81"]\n    environment: !reset {}\n';
    const { project } = load({ '/p/compose.yaml': base, '/p/o.yaml': over }, { files: ['compose.yaml', 'o.yaml'] });
    assert.deepEqual(project.services['web']?.ports?.map((p) => p.published), ['81']);
    assert.equal(project.services['web']?.environment, undefined);
  });
  it('extends in the same file and from another file (paths relative to that file), without depends_on', () => {
    const files = {
      '/p/compose.yaml': 'services:\n  web:\n    extends: {file: lib/base.yaml, service: base}\n    environment: {B: b}\n  db:\n    image: pg\n  worker:\n    extends: web\n    command: work\n',
      '/p/lib/base.yaml': 'services:\n  base:\n    image: app\n    environment: {A: a}\n    volumes: [./data:/data]\n    depends_on: [db]\n',
    };
    const { project } = load(files);
    assert.deepEqual(project.services['web']?.environment, { A: 'a', B: 'b' });
    assert.equal(project.services['web']?.volumes?.[0]?.source, '/p/lib/data');
    assert.equal(project.services['web']?.depends_on, undefined);
    assert.equal(project.services['worker']?.image, 'app');
    assert.deepEqual(project.services['worker']?.command, ['work']);
  });
  it('extends cycles and unknown bases are errors', () => {
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  a:\n    extends: b\n  b:\n    extends: {service: a}\n' }, 'cycle'),
      '/p/compose.yaml:5:14: services.b.extends: extends cycle: a -> b -> a',
    );
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  a:\n    extends: {service: nope, file: other.yaml}\n', '/p/other.yaml': 'services:\n  base: {image: x}\n' }, 'reference'),
      '/p/compose.yaml:3:14: services.a.extends.service: service "nope" not found in /p/other.yaml (services: base)',
    );
    assert.equal(
      errorOf({ '/p/compose.yaml': 'services:\n  a:\n    extends: {service: b, file: gone.yaml}\n' }, 'missing_file'),
      '/p/compose.yaml:3:14: services.a.extends.file: cannot read "gone.yaml" (/p/gone.yaml)',
    );
  });
  it('profiles: inactive unless enabled by flag or COMPOSE_PROFILES', () => {
    const files = { '/p/compose.yaml': 'services:\n  web: {image: x}\n  debug: {image: y, profiles: [dev]}\n  tools: {image: z, profiles: [tools, dev]}\n' };
    assert.deepEqual(Object.keys(load(files).project.services), ['web']);
    assert.deepEqual(Object.keys(load(files).project.disabledServices), ['debug', 'tools']);
    assert.deepEqual(Object.keys(load(files, { profiles: ['tools'] }).project.services), ['web', 'tools']);
    assert.deepEqual(Object.keys(load(files, { env: { COMPOSE_PROFILES: 'dev' } }).project.services), ['web', 'debug', 'tools']);
    assert.deepEqual(Object.keys(load(files, { profiles: ['*'] }).project.services), ['web', 'debug', 'tools']);
  });
  it('a dependency on a disabled service is an error unless optional', () => {
    const files = { '/p/compose.yaml': 'services:\n  web:\n    image: x\n    depends_on: [debug]\n  debug: {image: y, profiles: [dev]}\n' };
    assert.equal(errorOf(files, 'reference'), '/p/compose.yaml:4:18: services.web.depends_on.debug: service "debug" is not active: enable profile "dev"');
    const optional = { '/p/compose.yaml': 'services:\n  web:\n    image: x\n    depends_on: {debug: {condition: service_started, required: false}}\n  debug: {image: y, profiles: [dev]}\n' };
    assert.deepEqual(load(optional).project.services['web']?.depends_on, {});
  });
  it('env_file: files in order, environment wins, bare names from the environment', () => {
    const files = {
      '/p/compose.yaml': 'services:\n  web:\n    image: x\n    env_file: [a.env, b.env]\n    environment: [A=env, FROM_SHELL, MISSING]\n',
      '/p/a.env': 'A=a\nB=a\nC=a\n',
      '/p/b.env': 'B=b\n',
    };
    const { project } = load(files, { env: { FROM_SHELL: 'shell' } });
    assert.deepEqual(project.services['web']?.environment, { A: 'env', B: 'b', C: 'a', FROM_SHELL: 'shell', MISSING: null });
    assert.equal(project.services['web']?.env_file, undefined);
  });
  it('project name: COMPOSE_PROJECT_NAME, then name:, then the directory', () => {
    const files = { '/p/My App/compose.yaml': 'name: Shop\nservices:\n  web: {image: x}\n' };
    const opts = { files: ['/p/My App/compose.yaml'] };
    assert.equal(load(files, opts).project.name, 'shop');
    assert.equal(load(files, { ...opts, env: { COMPOSE_PROJECT_NAME: 'other' } }).project.name, 'other');
    assert.equal(load({ '/p/My App/compose.yaml': 'services:\n  web: {image: x}\n' }, opts).project.name, 'myapp');
  });
});
