import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isComposeError, type ComposeErrorCode } from './errors.ts';
import { loadProject } from './load.ts';
import { memFs } from './mem-fs.ts';

const load = (text: string) => loadProject({ files: ['/p/compose.yaml'], cwd: '/p', env: {}, fs: memFs({ '/p/compose.yaml': text }) });

function errorOf(text: string, code: ComposeErrorCode): string {
  try {
    load(text);
  } catch (err) {
    assert.ok(isComposeError(err), String(err));
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail('expected a ComposeError');
}

describe('keys named like Object.prototype’s are keys like any other', () => {
  it('"__proto__" is refused where it is written, so it cannot smuggle fields in', () => {
    assert.equal(
      errorOf('services:\n  web:\n    image: x\n    __proto__: {cap_add: [SYS_ADMIN], privileged: true}\n', 'syntax'),
      '/p/compose.yaml:4:5: invalid YAML: "__proto__" is not allowed as a key',
    );
    assert.equal(errorOf('x-evil: &e {__proto__: {privileged: true}}\nservices:\n  web: {image: x, <<: *e}\n', 'syntax'), '/p/compose.yaml:1:13: invalid YAML: "__proto__" is not allowed as a key');
  });
  it('a merge key keeps keys named constructor or toString', () => {
    const p = load('x-env: &env {constructor: "1", toString: "2", A: "3"}\nservices:\n  web:\n    image: x\n    environment: {<<: *env}\n');
    assert.deepEqual(p.project.services['web']?.environment, { constructor: '1', toString: '2', A: '3' });
  });
  it('a variable named like one is unset unless given', () => {
    const p = load('services:\n  web:\n    image: x\n    environment: {A: "${constructor:-unset}", B: "${toString}"}\n');
    assert.deepEqual(p.project.services['web']?.environment, { A: 'unset', B: '' });
  });
  it('references to services, volumes, secrets and networks named like Object.prototype’s keys must be declared', () => {
    assert.equal(
      errorOf('services:\n  web:\n    image: x\n    depends_on: [toString]\n    volumes: [constructor:/d]\n    secrets: [valueOf]\n    networks: [hasOwnProperty]\n', 'reference'),
      [
        '/p/compose.yaml:4:18: services.web.depends_on.toString: depends on undefined service "toString"',
        '/p/compose.yaml:5:15: services.web.volumes[0]: refers to undefined volume "constructor": declare it under the top-level "volumes"',
        '/p/compose.yaml:6:15: services.web.secrets[0]: refers to undefined secret "valueOf": declare it under the top-level "secrets"',
        '/p/compose.yaml:7:16: services.web.networks.hasOwnProperty: refers to undefined network "hasOwnProperty": declare it under the top-level "networks"',
      ].join('\n'),
    );
    assert.equal(errorOf('services:\n  a:\n    extends: {service: constructor}\n    image: x\n', 'reference'), '/p/compose.yaml:3:14: services.a.extends.service: service "constructor" not found in /p/compose.yaml (services: a)');
  });
});
