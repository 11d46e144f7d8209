import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isComposeError } from './errors.ts';
import { loadProject } from './load.ts';
import { memFs } from './mem-fs.ts';
import { parseYaml } from './source.ts';

/** The message a text is refused with (all of it: one problem, one line). */
function refusedWith(text: string): string {
  try {
    parseYaml(text, 'c.yaml');
  } catch (err) {
    assert.ok(isComposeError(err), String(err));
    assert.equal(err.problems.length, 1, err.message);
    assert.equal(err.code, 'syntax', err.message);
    return err.message;
  }
  assert.fail('expected a syntax error');
}

describe('YAML errors as a user wants them', () => {
  it('bad indentation: the first error only, said plainly', () => {
    assert.equal(
      refusedWith('services:\n  web:\n    image: nginx\n   ports:\n      - 80:80\n  db:\n    image: pg\n'),
      'c.yaml:4:1: invalid YAML: bad indentation: all mapping items must start at the same column',
    );
    assert.equal(
      refusedWith('services:\n  web:\n    image: nginx\n      ports: [1]\n'),
      'c.yaml:3:12: invalid YAML: bad indentation, or a value containing ": " that should be quoted: a mapping cannot start inside this value',
    );
    assert.equal(refusedWith('services:\n\tweb:\n\t\timage: x\n'), 'c.yaml:2:1: invalid YAML: bad indentation: a tab is used to indent; YAML indents with spaces only');
  });
  it('a duplicate key is named, with where it first was', () => {
    assert.equal(refusedWith('services:\n  web:\n    image: a\n    ports: []\n    image: b\n'), 'c.yaml:5:5: invalid YAML: duplicate key "image" (first at line 3, column 5)');
  });
  it('tokens quoted in messages are cut to a readable length', () => {
    const msg = refusedWith(`services: {web: {image: x}}\n] ${'y'.repeat(5000)}\n`);
    assert.ok(msg.length < 200, msg);
  });
  it('binary garbage gets a short answer that does not echo it', () => {
    let seed = 7;
    const bytes = Buffer.from(new Uint8Array(126 * 1024).map(() => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256));
    const msg = refusedWith(bytes.toString('utf8'));
    assert.ok(msg.length < 200, msg);
    assert.match(msg, /^c.yaml:1:\d+: invalid YAML: /);
  });
  it('control characters, as Docker Compose refuses them, and lone surrogates; U+FFFD is text', () => {
    assert.equal(refusedWith('services:\n  web: {image: "a\u0000b"}\n'), 'c.yaml:2:18: invalid YAML: control character U+0000 is not allowed in YAML (a binary file?)');
    assert.equal(refusedWith('services:\n  web: {image: "a\uD800b"}\n'), 'c.yaml:2:18: invalid YAML: a lone surrogate (U+D800) is not Unicode text');
    assert.deepEqual(parseYaml('x-note: "\uFFFD marks a lost character"\n', 'c.yaml').value, { 'x-note': '\uFFFD marks a lost character' });
  });
  it('a file of bytes that are not UTF-8 is refused as it is read, at the first bad byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-utf8-'));
    try {
      const file = join(dir, 'compose.yaml');
      writeFileSync(file, Buffer.concat([Buffer.from('x-a: \uFFFD\nservices:\n  web:\n    image: ng'), Buffer.from([0xff, 0xfe]), Buffer.from('inx\n')]));
      assert.throws(() => loadProject({ files: [file], cwd: dir, env: {} }), { code: 'syntax', message: `${file}:4:14: byte 0xFF is not UTF-8: the file must be UTF-8 text` });
      writeFileSync(file, 'x-a: \uFFFD\nservices:\n  web:\n    image: nginx\n');
      assert.equal(loadProject({ files: [file], cwd: dir, env: {} }).project.services['web']?.image, 'nginx');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('more than one document in a file', () => {
    assert.match(refusedWith('services: {}\n---\nservices: {}\n'), /^c.yaml:2:1: invalid YAML: more than one YAML document/);
  });
});

describe('empty files, as Docker Compose treats them', () => {
  const load = (files: Record<string, string>, names: string[]) =>
    loadProject({ files: names, cwd: '/p', env: {}, fs: memFs(files) });
  it('a project of empty files is refused', () => {
    for (const text of ['', '# only a comment\n', '{}\n']) {
      assert.throws(() => load({ '/p/compose.yaml': text }, ['compose.yaml']), { code: 'invalid_value', message: '/p/compose.yaml:1:1: empty compose file: it defines no services or anything else' });
    }
  });
  it('an empty override file is not', () => {
    const { project } = load({ '/p/compose.yaml': 'services: {web: {image: x}}\n', '/p/override.yaml': '' }, ['compose.yaml', 'override.yaml']);
    assert.deepEqual(Object.keys(project.services), ['web']);
  });
});
