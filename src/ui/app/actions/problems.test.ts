import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { offsetOf, problemsByLine, stackProblems } from './problems.ts';

describe('stackProblems', () => {
  it('places each located problem at its line and column, with its field path', () => {
    const p = stackProblems(
      [
        { path: '(warning)', message: 'services.web.deploy.resources.limits.pids: not supported, ignored' },
        { path: 'services.web.deploy.replicas', message: '/compose.yaml:6:17: services.web.deploy.replicas: expected an integer, got "three"' },
        { path: 'services.web.imgae', message: '/compose.yaml:3:5: services.web.imgae: unknown key, did you mean "image"?' },
        { path: '', message: '/compose.yaml:2:1: YAML: bad indentation of a mapping entry' },
        { path: 'files[0].path', message: 'files[0].path: expected a normalized path' },
        { path: 'services.x.env_file', message: '/other.env:1:1: services.x.env_file: does not exist' },
      ],
      'compose.yaml',
    );
    assert.deepEqual(p.warnings, ['services.web.deploy.resources.limits.pids: not supported, ignored']);
    assert.deepEqual(
      p.located.map((l) => [l.line, l.column, l.path, l.message]),
      [
        [2, 1, '', 'YAML: bad indentation of a mapping entry'],
        [3, 5, 'services.web.imgae', 'unknown key, did you mean "image"?'],
        [6, 17, 'services.web.deploy.replicas', 'expected an integer, got "three"'],
      ],
    );
    assert.deepEqual(p.other, ['files[0].path: expected a normalized path', '/other.env:1:1: services.x.env_file: does not exist']);
  });

  it('groups problems by line', () => {
    const { located } = stackProblems(
      [
        { path: 'a', message: 'compose.yaml:4:3: a: one' },
        { path: 'b', message: 'compose.yaml:4:9: b: two' },
      ],
      'compose.yaml',
    );
    assert.deepEqual([...problemsByLine(located).entries()].map(([l, ps]) => [l, ps.length]), [[4, 2]]);
  });
});

describe('offsetOf', () => {
  it('finds line and column, clamped to the line and the text', () => {
    const text = 'ab\ncdef\n\nxyz';
    assert.equal(offsetOf(text, 1, 1), 0);
    assert.equal(offsetOf(text, 2, 3), 5);
    assert.equal(offsetOf(text, 2, 99), 7);
    assert.equal(offsetOf(text, 3, 1), 8);
    assert.equal(offsetOf(text, 9, 1), text.length);
  });
});

describe('stack-names', () => {
  it('repeats the API’s constant exactly (STACK_LABEL is usage.ts’s, tested beside it)', async () => {
    const api = await import('../../../api/stack.ts');
    const ui = await import('./stack-names.ts');
    assert.equal(ui.STACK_WARNING_PATH, api.STACK_WARNING_PATH);
  });
});
