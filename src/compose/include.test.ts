import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadErrorOf, loadFiles } from '../testing/compose-load.ts';

const load = loadFiles;
const errorOf = loadErrorOf;

describe('loadProject: include', () => {
  it('short form: the included project keeps its own directory for relative paths and its own .env', () => {
    const { project } = load({
      '/p/compose.yaml': 'include:\n  - ../lib/db.yaml\nservices:\n  web: {image: web, depends_on: [db]}\n',
      '/lib/db.yaml': 'services:\n  db:\n    image: "postgres:${TAG}"\n    env_file: db.env\n    volumes: ["./init:/init"]\nvolumes:\n  data: {}\n',
      '/lib/.env': 'TAG=16\n',
      '/lib/db.env': 'A=1\n',
    });
    assert.deepEqual(Object.keys(project.services).sort(), ['db', 'web']);
    assert.equal(project.services['db']?.image, 'postgres:16');
    assert.deepEqual(project.services['db']?.environment, { A: '1' });
    assert.equal(project.services['db']?.volumes?.[0]?.source, '/lib/init');
    assert.deepEqual(Object.keys(project.volumes), ['data']);
  });

  it('long form: path list merged, project_directory and env_file relative to the including project; its environment wins', () => {
    const { project } = load(
      {
        '/p/compose.yaml': 'include:\n  - path: [sub/a.yaml, sub/b.yaml]\n    project_directory: other\n    env_file: [sub/one.env, sub/two.env]\n',
        '/p/sub/a.yaml': 'services:\n  s:\n    image: "x:${V}"\n    volumes: ["./d:/d"]\n    environment: {W: "${W}"}\n',
        '/p/sub/b.yaml': 'services:\n  s:\n    command: run\n',
        '/p/sub/one.env': 'V=1\nW=from-file\n',
        '/p/sub/two.env': 'V=2\n',
      },
      { env: { W: 'from-env' } },
    );
    const s = project.services['s'];
    assert.equal(s?.image, 'x:2');
    assert.deepEqual(s?.command, ['run']);
    assert.equal(s?.volumes?.[0]?.source, '/p/other/d');
    assert.deepEqual(s?.environment, { W: 'from-env' });
  });

  it('nested includes, relative to each included project; an identical definition twice is not a conflict', () => {
    const { project } = load({
      '/p/compose.yaml': 'include: [a/compose.yaml, b.yaml]\n',
      '/p/a/compose.yaml': 'include: [deeper/compose.yaml]\nservices:\n  a: {image: a}\n',
      '/p/a/deeper/compose.yaml': 'services:\n  d: {image: d}\nnetworks:\n  shared: {}\n',
      '/p/b.yaml': 'services:\n  b: {image: b}\nnetworks:\n  shared: {}\n',
    });
    assert.deepEqual(Object.keys(project.services).sort(), ['a', 'b', 'd']);
    assert.deepEqual(Object.keys(project.networks), ['shared']);
  });

  it('a service both included and defined locally is an error, at the local definition', () => {
    assert.equal(
      errorOf({ '/p/compose.yaml': 'include: [lib.yaml]\nservices:\n  db: {image: mine}\n', '/p/lib.yaml': 'services:\n  db: {image: theirs}\n' }, 'reference'),
      '/p/compose.yaml:3:3: services.db: conflicts with the service "db" of included /p/lib.yaml: an included resource is never merged; rename one of them',
    );
    assert.match(
      errorOf({ '/p/compose.yaml': 'include: [a.yaml, b.yaml]\n', '/p/a.yaml': 'volumes:\n  v: {}\n', '/p/b.yaml': 'volumes:\n  v: {driver: x}\n' }, 'reference'),
      /^\/p\/compose.yaml:1:19: volumes.v: conflicts with the volume "v" of included \/p\/b.yaml \(also included from \/p\/a.yaml\)/,
    );
  });

  it('cycles are reported with the chain, at the include that closes them', () => {
    assert.equal(
      errorOf({ '/p/compose.yaml': 'include: [a.yaml]\n', '/p/a.yaml': 'include:\n  - b/b.yaml\n', '/p/b/b.yaml': 'include:\n  - path: ../compose.yaml\n' }, 'cycle'),
      '/p/b/b.yaml:2:5: include[0]: include cycle: compose.yaml -> a.yaml -> b/b.yaml -> compose.yaml',
    );
    assert.equal(errorOf({ '/p/compose.yaml': 'include: [compose.yaml]\n' }, 'cycle'), '/p/compose.yaml:1:11: include[0]: include cycle: compose.yaml -> compose.yaml');
    // Through a file of the entry other than its first.
    assert.equal(
      errorOf({ '/p/compose.yaml': 'include:\n  - path: [b.yaml, compose.yaml]\n', '/p/b.yaml': 'services: {}\n' }, 'cycle'),
      '/p/compose.yaml:2:5: include[0]: include cycle: compose.yaml -> compose.yaml',
    );
    assert.equal(
      errorOf({ '/p/compose.yaml': 'include: [a.yaml]\n', '/p/a.yaml': 'include:\n  - path: [b.yaml, compose.yaml]\n', '/p/b.yaml': 'services: {}\n' }, 'cycle'),
      '/p/a.yaml:2:5: include[0]: include cycle: compose.yaml -> a.yaml -> compose.yaml',
    );
  });

  it('a missing included file or named env file is located; a malformed entry is a type error', () => {
    assert.equal(errorOf({ '/p/compose.yaml': 'include:\n  - gone.yaml\n' }, 'missing_file'), '/p/compose.yaml:2:5: include[0].path: cannot read /p/gone.yaml: no such file');
    assert.equal(
      errorOf({ '/p/compose.yaml': 'include:\n  - path: a.yaml\n    env_file: nope.env\n', '/p/a.yaml': 'services: {}\n' }, 'missing_file'),
      '/p/compose.yaml:2:5: include[0].env_file: env file /p/nope.env not found',
    );
    assert.match(errorOf({ '/p/compose.yaml': 'include:\n  - project_directory: x\n' }, 'type'), /include\[0\]: missing required key "path"/);
    assert.match(errorOf({ '/p/compose.yaml': 'include: a.yaml\n' }, 'type'), /include: expected a list/);
  });
});

describe('loadProject: include fan-out', () => {
  it('stops at MAX_FILE_LOADS files, with one located error', () => {
    // Each level includes the next twice: 2^20 loads without a budget.
    const files: Record<string, string> = { '/p/compose.yaml': 'include: [l1.yaml, l1.yaml]\n' };
    for (let i = 1; i < 20; i++) files[`/p/l${i}.yaml`] = `include: [l${i + 1}.yaml, l${i + 1}.yaml]\n`;
    files['/p/l20.yaml'] = 'services: {}\n';
    const msg = errorOf(files, 'invalid_value');
    assert.equal(msg.split('\n').length, 1);
    assert.match(msg, /^\/p\/l\d+\.yaml:1:\d+: include\[\d\]\.path: more than 500 compose files to read: includes or extends fan out too far$/);
  });

  it('reports every missing file of one level at once (one dry-run round for them all)', () => {
    const msg = errorOf({ '/p/compose.yaml': 'include:\n  - a.yaml\n  - path: [b.yaml, c.yaml]\n' }, 'missing_file');
    assert.deepEqual(msg.split('\n'), [
      '/p/compose.yaml:2:5: include[0].path: cannot read /p/a.yaml: no such file',
      '/p/compose.yaml:3:5: include[1].path[0]: cannot read /p/b.yaml: no such file',
      '/p/compose.yaml:3:5: include[1].path[1]: cannot read /p/c.yaml: no such file',
    ]);
  });
});
