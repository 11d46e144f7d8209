/**
 * Hostile input (issue #11): each file of `testdata/hostile/` — and the chains generated below,
 * too big to keep as files — is refused with one located error by a budget of `budget.ts`,
 * never by running out of time, memory or call stack. No speed is asserted here: the refusal
 * times are measured by `bench/hostile-compose.ts`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PARSE_BUDGET } from './budget.ts';
import { checkReferences } from './check.ts';
import { isComposeError, type ComposeError, type ComposeErrorCode } from './errors.ts';
import { loadProject } from './load.ts';
import { memFs } from './mem-fs.ts';
import type { ComposeModel, ServiceConfig } from './model.ts';
import { parseYaml } from './source.ts';

const HOSTILE = join(import.meta.dirname, 'testdata/hostile');

function refusal(run: () => unknown): ComposeError {
  try {
    run();
  } catch (err) {
    assert.ok(isComposeError(err), `expected a ComposeError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the file to be refused');
}

/** Loads `text` as /p/compose.yaml; returns the one problem it is refused with. */
function refused(text: string, code: ComposeErrorCode): string {
  const err = refusal(() => loadProject({ files: ['/p/compose.yaml'], cwd: '/p', env: {}, fs: memFs({ '/p/compose.yaml': text }) }));
  assert.equal(err.problems.length, 1, err.message);
  assert.equal(err.code, code, err.message);
  assert.ok(err.problems[0]?.pos, `located: ${err.message}`);
  return err.message;
}

function fixture(name: string): string {
  return readFileSync(join(HOSTILE, name), 'utf8');
}

describe('hostile compose files are refused with one located error', () => {
  it('a billion laughs (nine levels of nine aliases, ~400 bytes), at the alias that blows up', () => {
    assert.match(
      refused(fixture('billion-laughs.yaml'), 'limit'),
      /^\/p\/compose.yaml:\d+:\d+: aliases and merge keys expand to more than 100000 nodes \(a "billion laughs"\?\); the limit is 100000$/,
    );
  });
  it('nested merge keys (`<<: [*a, *a]`, 40 levels in 1.5 KB)', () => {
    assert.match(refused(fixture('merge-keys.yaml'), 'limit'), /^\/p\/compose.yaml:\d+:\d+: aliases and merge keys expand to more than 100000 nodes/);
  });
  it('10,000 nested flow sequences', () => {
    assert.match(refused(fixture('deep-nesting.yaml'), 'limit'), /^\/p\/compose.yaml:4:\d+: nesting deeper than 100 levels; the limit is 100$/);
  });
  it('an alias inside its own anchor', () => {
    assert.match(refused('services:\n  web: {image: x}\nx-loop: &a [1, *a]\n', 'limit'), /^\/p\/compose.yaml:3:\d+: nesting deeper than 100 levels after expanding aliases/);
  });
  it('a 5,000-deep ${A:-${A:-…}} nesting, at its value', () => {
    assert.equal(
      refused(fixture('deep-interpolation.yaml'), 'variable'),
      '/p/compose.yaml:3:12: services.web.image: variables nested more than 50 levels deep (${A:-${B:-…}}); the limit is 50',
    );
  });
  it('a 50,000-long depends_on chain (by the node budget, before anything is built)', () => {
    let text = 'services:\n';
    for (let i = 0; i < 50_000; i++) text += `  s${i}: {image: x, depends_on: [s${i + 1}]}\n`;
    assert.match(refused(text, 'limit'), /^\/p\/compose.yaml:\d+:\d+: more than 100000 YAML nodes; the limit is 100000$/);
  });
  it('a 200-long extends chain', () => {
    let text = 'services:\n';
    for (let i = 0; i < 200; i++) text += `  s${i}: {extends: s${i + 1}}\n`;
    text += '  s200: {image: x}\n';
    assert.match(refused(text, 'limit'), /^\/p\/compose.yaml:\d+:\d+: services\.s\d+\.extends: extends chain longer than 100 services; the limit is 100$/);
  });
  it('a file over the size budget, before it is parsed', () => {
    const text = `services:\n  web: {image: x}\nx-big: "${'x'.repeat(PARSE_BUDGET.maxBytes)}"\n`;
    assert.equal(refused(text, 'limit'), `/p/compose.yaml:1:1: the file is ${text.length} bytes; the limit is ${PARSE_BUDGET.maxBytes} bytes`);
  });
  it('each budget can be set lower (node count, depth, expansion, size)', () => {
    const tight = { ...PARSE_BUDGET, maxNodes: 10, maxDepth: 3, maxExpandedNodes: 5, maxBytes: 200 };
    const msg = (text: string): string => refusal(() => parseYaml(text, 'f.yaml', tight)).message;
    assert.match(msg('a: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n'), /^f.yaml:1:\d+: more than 10 YAML nodes/);
    assert.match(msg('a:\n  b:\n    c:\n      d:\n        e: 1\n'), /^f.yaml:\d+:\d+: nesting deeper than 3 levels/);
    assert.match(msg('a: &a [1, 2, 3]\nb: [*a, *a]\n'), /^f.yaml:2:9: aliases and merge keys expand to more than 5 nodes/);
    assert.match(msg(`a: ${'x'.repeat(300)}\n`), /^f.yaml:1:1: the file is 304 bytes; the limit is 200 bytes$/);
  });
  it('files within the budgets load as before (anchors, merge keys)', () => {
    const { project } = loadProject({
      files: ['/p/compose.yaml'],
      cwd: '/p',
      env: {},
      fs: memFs({ '/p/compose.yaml': 'x-base: &base {image: x, environment: {A: "1"}}\nservices:\n  a: {<<: *base}\n  b:\n    <<: [*base]\n    image: y\n' }),
    });
    assert.equal(project.services['a']?.image, 'x');
    assert.equal(project.services['b']?.image, 'y');
    assert.deepEqual(project.services['b']?.environment, { A: '1' });
  });
  it('a real file of 500 services each `<<: *common` (100 nodes) loads', () => {
    const text = readFileSync(join(import.meta.dirname, 'testdata/large/many-merges.yaml'), 'utf8');
    const { project } = loadProject({ files: ['/p/compose.yaml'], cwd: '/p', env: {}, fs: memFs({ '/p/compose.yaml': text }) });
    assert.equal(Object.keys(project.services).length, 500);
    assert.equal(project.services['svc499']?.environment?.['SETTING_29'], 'v29');
  });
});

describe('dependency cycles are found without recursion', () => {
  const chain = (n: number, closed: boolean): ComposeModel => {
    const services: Record<string, ServiceConfig> = {};
    for (let i = 0; i < n; i++) {
      const next = i + 1 < n ? `s${i + 1}` : closed ? 's0' : undefined;
      services[`s${i}`] = { image: 'x', ...(next ? { depends_on: { [next]: { condition: 'service_started', required: true } } } : {}) } as ServiceConfig;
    }
    return { services, networks: {}, volumes: {}, secrets: {}, configs: {}, extensions: {} };
  };
  it('a 50,000-long chain is no cycle', () => {
    assert.doesNotThrow(() => checkReferences(chain(50_000, false), {}, { exists: () => true }));
  });
  it('a 50,000-long cycle is one problem with a shortened path', () => {
    const err = refusal(() => checkReferences(chain(50_000, true), {}, { exists: () => true }));
    assert.equal(err.problems.length, 1);
    assert.equal(err.code, 'cycle');
    assert.equal(err.problems[0]?.message, 'dependency cycle: s0 -> s1 -> s2 -> s3 -> s4 -> … 49991 more … -> s49996 -> s49997 -> s49998 -> s49999 -> s0');
  });
});

describe('messages never echo much of the input', () => {
  it('a long value or key is cut', () => {
    const long = 'x'.repeat(100_000);
    const msg = refused(`services:\n  web:\n    image: x\n    deploy: {replicas: "${long}"}\n`, 'type');
    assert.ok(msg.length < 300, msg.slice(0, 400));
    const key = refused(`services:\n  web:\n    image: x\n    ${long.slice(0, 1000)}: 1\n`, 'unknown_key');
    assert.ok(key.length < 400, key.slice(0, 500));
  });
});
