import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { buildProgram, commandGroup, run } from './main.ts';

/*
 * What a command loads before it does anything is what it costs to start (bench/cli-start.ts
 * measures the time; this test never does). Each case runs one command line in a fresh Node
 * process that records every module it resolves, and checks that the heavy ones a command does
 * not use stayed unloaded: a new top-level import of the manager, the agent, Fastify, dockerode
 * or the X.509 library in a CLI module fails here, naming the module.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const main = pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href;

/** Runs `argv` through `run()` in a child process; returns the files and packages it loaded. */
async function loadedBy(argv: readonly string[], env: Record<string, string>): Promise<string[]> {
  const script = `
    import { registerHooks } from 'node:module';
    const loaded = new Set();
    registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); loaded.add(r.url); return r; } });
    const { run } = await import(${JSON.stringify(main)});
    const quiet = { write: () => true };
    await run(${JSON.stringify(argv)}, { stdout: quiet, stderr: quiet, env: process.env, now: () => 0 });
    process.stdout.write(JSON.stringify([...loaded]));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    cwd: root,
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
  return (JSON.parse(stdout) as string[]).map(describeUrl);
}

/** `file:///…/node_modules/fastify/fastify.js` → `fastify`; `file:///…/src/cli/main.ts` → `src/cli/main.ts`. */
function describeUrl(url: string): string {
  if (!url.startsWith('file:')) return url;
  const path = fileURLToPath(url);
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const [scope, name] = path.slice(nm + '/node_modules/'.length).split('/');
    return scope?.startsWith('@') ? `${scope}/${name ?? ''}` : (scope ?? path);
  }
  return path.startsWith(`${root}/`) ? path.slice(root.length + 1) : path;
}

/** What no command but `dev`, `server` and `join` may load: servers, drivers, certificates. */
const RUNTIME = ['fastify', 'dockerode', '@peculiar/x509', 'ws', 'pino', 'etcd3', 'dns-packet', 'src/manager/', 'src/store/', 'src/agent/boot.ts', 'src/agent/drivers/'];

function assertNotLoaded(loaded: readonly string[], forbidden: readonly string[]): void {
  const found = loaded.filter((m) => forbidden.some((f) => (f.endsWith('/') ? m.startsWith(f) : m === f)));
  assert.deepEqual(found, [], `loaded at startup although the command does not use them: ${found.join(', ')}`);
}

describe('what a CLI command loads', { timeout: 300_000 }, () => {
  let dir: string;
  let env: Record<string, string>;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-cli-imports-'));
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  web:\n    image: nginx:alpine\n');
    // A manager that is not there: the command gets as far as connecting, then fails.
    env = { FLOTILLA_HOST: `unix://${join(dir, 'none.sock')}`, FLOTILLA_HOME: dir };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--help loads every command group, and none of the runtime', async () => {
    const loaded = await loadedBy(['--help'], env);
    assert.ok(loaded.includes('src/cli/server.ts') && loaded.includes('src/cli/stack.ts'), 'the help lists every group');
    assertNotLoaded(loaded, RUNTIME);
  });

  it('service ls loads neither the compose loader nor the schemas', async () => {
    const loaded = await loadedBy(['service', 'ls'], env);
    assert.ok(loaded.includes('src/cli/service.ts'));
    assertNotLoaded(loaded, [...RUNTIME, 'yaml', 'src/compose/', '@sinclair/typebox', 'src/cli/stack.ts', 'src/cli/dev.ts']);
  });

  it('stack config loads the compose loader and none of the runtime', async () => {
    const loaded = await loadedBy(['-H', env['FLOTILLA_HOST']!, 'stack', 'config', '-c', join(dir, 'compose.yaml')], env);
    assert.ok(loaded.some((m) => m.startsWith('src/compose/')));
    // The image builder loads only for a deploy that builds.
    assertNotLoaded(loaded, [...RUNTIME, 'src/cli/service.ts', 'src/cli/dev.ts', 'src/cli/stack-build.ts', 'tar-stream', '@balena/dockerignore']);
  });
});

describe('commandGroup: the group a command line runs, loaded alone', () => {
  it('is the first word after the global options that take a value', () => {
    assert.equal(commandGroup(['service', 'ls']), 'service');
    assert.equal(commandGroup(['-H', 'unix:///s', 'stack', 'config']), 'stack');
    assert.equal(commandGroup(['--host=unix:///s', '-c', 'lab', 'node', 'ls']), 'node');
    assert.equal(commandGroup(['-Hunix:///s', '--context', 'service', 'secret', 'ls']), 'secret');
  });

  it('is undefined, so every group loads, for help, unknown words and anything commander must judge', () => {
    for (const argv of [[], ['--help'], ['-h', 'service'], ['-v'], ['help', 'stack'], ['servce', 'ls'], ['--', 'service'], ['-c', 'service', 'ls'], ['-H'], ['--bogus', 'service']]) {
      assert.equal(commandGroup(argv), undefined, argv.join(' '));
    }
  });
});

describe('a group loaded alone', () => {
  /** What `argv` prints, through `run` (its group alone) or a program with every group. */
  async function printed(argv: string[], everyGroup: boolean): Promise<string> {
    let out = '';
    const io = { stdout: { write: (t: string) => (out += t) }, stderr: { write: (t: string) => (out += t) }, env: {}, now: () => 0 };
    if (!everyGroup) {
      await run(argv, io);
      return out;
    }
    const program = await buildProgram(io);
    await program.parseAsync(argv, { from: 'user' }).catch(() => undefined);
    return out;
  }

  it('prints the same help as with every group loaded', async () => {
    for (const group of ['service', 'node', 'dev', 'server', 'join', 'token', 'context', 'stack', 'secret', 'config', 'network']) {
      const alone = await printed([group, '--help'], false);
      assert.match(alone, new RegExp(`^Usage: flotilla ${group} `));
      assert.equal(alone, await printed([group, '--help'], true), group);
    }
  });
});
