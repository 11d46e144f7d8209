import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run } from './main.ts';

describe('flotilla context', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'flotilla-ctx-cli-'));
  });
  after(() => rm(home, { recursive: true, force: true }));
  const cli = async (...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const code = await run(argv, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: { FLOTILLA_HOME: home }, now: () => 0 });
    return { code, stdout, stderr };
  };
  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

  it('imports, lists, selects and removes contexts', async () => {
    const file = join(home, 'ctx.json');
    await writeFile(file, JSON.stringify({ host: 'https://10.0.0.1:4280', ca, cert: 'C', key: 'K', token: 'T' }));
    assert.equal((await cli('context', 'import', 'prod', file)).code, 0);
    const dup = await cli('context', 'import', 'prod', file);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /a context named "prod" exists already/);
    assert.equal((await cli('context', 'use', 'prod')).code, 0);
    assert.equal((await cli('context', 'show')).stdout, 'prod\n');
    const ls = await cli('context', 'ls');
    const [head, local, prod] = ls.stdout.split('\n');
    assert.match(head ?? '', /^NAME\s+HOST\s+AUTH$/);
    assert.match(local ?? '', /^default\s+unix:\/\/\S+flotilla\.sock\s+socket$/);
    assert.match(prod ?? '', /^prod \*\s+https:\/\/10\.0\.0\.1:4280\s+certificate$/);
    assert.equal((await cli('context', 'rm', 'prod')).code, 0);
    assert.equal((await cli('context', 'show')).stdout, 'default\n');
  });

  it('keeps every manager of a context and shows them in ls and show --format json', async () => {
    const file = join(home, 'ha.json');
    const hosts = ['https://10.0.0.1:4280', 'https://10.0.0.2:4280', 'https://10.0.0.3:4280'];
    await writeFile(file, JSON.stringify({ host: hosts[0], hosts, ca, token: 'T' }));
    assert.equal((await cli('context', 'import', 'ha', file)).code, 0);
    assert.equal((await cli('context', 'use', 'ha')).code, 0);
    const ls = await cli('context', 'ls');
    assert.match(ls.stdout.split('\n')[2] ?? '', /^ha \*\s+https:\/\/10\.0\.0\.1:4280,https:\/\/10\.0\.0\.2:4280,https:\/\/10\.0\.0\.3:4280\s+token$/);
    const listed = JSON.parse((await cli('context', 'ls', '--format', 'json')).stdout) as Array<{ name: string; hosts: string[] }>;
    assert.deepEqual(listed.find((c) => c.name === 'ha')?.hosts, hosts);
    assert.equal((await cli('context', 'show')).stdout, 'ha\n', 'the name alone by default, for scripts');
    const shown = JSON.parse((await cli('context', 'show', '--format', 'json')).stdout) as Record<string, unknown>;
    assert.deepEqual(shown, { name: 'ha', host: hosts[0], hosts, auth: 'token' });
    assert.equal((await cli('context', 'rm', 'ha')).code, 0);
  });

  it('refuses bad files and names with a clear message, saving nothing', async () => {
    const file = join(home, 'bad.json');
    await writeFile(file, JSON.stringify({ host: 'https://10.0.0.1:4280', ca }));
    const r = await cli('context', 'import', 'lab', file);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `flotilla: invalid context file ${file}: no credential: give "cert" and "key", or "token"\n`);
    assert.match((await cli('context', 'import', 'default', file)).stderr, /"default" is the built-in context/);
    assert.match((await cli('context', 'use', 'lab')).stderr, /no context named "lab"/);
    assert.match((await cli('--context', 'lab', 'service', 'ls')).stderr, /^flotilla: no context named "lab" \(from --context\)/);
  });
});
