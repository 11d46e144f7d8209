import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isComposeError } from './errors.ts';
import { interpolateString, interpolateTree, InterpolationError } from './interpolate.ts';
import { parseYaml } from './source.ts';

const vars: Record<string, string> = { SET: 'value', EMPTY: '', OTHER: 'other' };
const lookup = (n: string): string | undefined => vars[n];
const i = (s: string): string => interpolateString(s, lookup);

describe('interpolateString', () => {
  it('substitutes $VAR and ${VAR}', () => {
    assert.equal(i('a $SET b ${SET}c'), 'a value b valuec');
    assert.equal(i('$UNSET-${UNSET}'), '-');
  });
  it(':- and - defaults distinguish unset from empty', () => {
    assert.equal(i('${UNSET:-d}'), 'd');
    assert.equal(i('${EMPTY:-d}'), 'd');
    assert.equal(i('${SET:-d}'), 'value');
    assert.equal(i('${UNSET-d}'), 'd');
    assert.equal(i('${EMPTY-d}'), '');
  });
  it(':+ and + replacements', () => {
    assert.equal(i('${SET:+r}'), 'r');
    assert.equal(i('${EMPTY:+r}'), '');
    assert.equal(i('${EMPTY+r}'), 'r');
    assert.equal(i('${UNSET+r}'), '');
  });
  it(':? and ? require a value', () => {
    assert.equal(i('${SET:?need it}'), 'value');
    assert.equal(i('${EMPTY?need it}'), '');
    assert.throws(() => i('${EMPTY:?need it}'), { message: 'required variable EMPTY is missing a value: need it' });
    assert.throws(() => i('${UNSET?}'), { message: 'required variable UNSET is missing a value' });
  });
  it('nests defaults and escapes $$', () => {
    assert.equal(i('${UNSET:-${ALSO_UNSET:-${OTHER}}}'), 'other');
    assert.equal(i('${UNSET:-a $$b}'), 'a $b');
    assert.equal(i('$$SET costs $$5'), '$SET costs $5');
    assert.equal(i('${SET:-${UNSET:?not evaluated}}'), 'value');
  });
  it('rejects malformed references', () => {
    assert.throws(() => i('${SET'), InterpolationError);
    assert.throws(() => i('${1X}'), /expected a variable name/);
    assert.throws(() => i('${SET!x}'), /unexpected "!"/);
  });
  it('reports unset variables', () => {
    const unset: string[] = [];
    interpolateString('$A ${B:-x} ${C}', () => undefined, (n) => unset.push(n));
    assert.deepEqual(unset, ['A', 'C']);
  });
});

describe('interpolateTree', () => {
  it('interpolates values, not keys, and reports errors with position and path', () => {
    const { value } = parseYaml('services:\n  web:\n    image: "${TAG:?set TAG}"\n    environment:\n      $KEY: $SET\n', 'c.yml');
    try {
      interpolateTree(value, lookup);
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(isComposeError(err));
      assert.equal(err.message, 'c.yml:3:12: services.web.image: required variable TAG is missing a value: set TAG');
    }
    const ok = parseYaml('a:\n  $KEY: $SET\n  list: [$OTHER]\n', 'c.yml').value;
    const warnings = interpolateTree(ok, lookup);
    assert.deepEqual(ok, { a: { $KEY: 'value', list: ['other'] } });
    assert.deepEqual(warnings, []);
  });
});
