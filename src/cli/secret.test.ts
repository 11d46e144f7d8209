import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { startApi, type ApiHarness } from '../testing/api-harness.ts';
import { testSealingKey } from '../testing/sealing-key.ts';
import { parseFileRef } from './file-refs.ts';
import { run } from './main.ts';

const PLAINTEXT = 'from-stdin-3e8d';

describe('secret and config commands', () => {
  let h: ApiHarness;
  const cli = async (stdin: string | undefined, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> => {
    let stdout = '';
    let stderr = '';
    const code = await run(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { FLOTILLA_HOST: `unix://${h.socketPath}` },
      now: () => h.clock.now(),
      ...(stdin === undefined ? {} : { stdin: (async function* () { yield Buffer.from(stdin); })() }),
    });
    return { code, stdout, stderr };
  };

  beforeEach(async () => {
    h = await startApi({ listen: true, secrets: testSealingKey() });
  });
  afterEach(async () => {
    await h.close();
  });

  it('creates a secret from stdin; ls and inspect never show the data; a service uses it by name; rm is refused then allowed', async () => {
    const created = await cli(PLAINTEXT, 'secret', 'create', '-l', 'a=b', 'pw', '-');
    assert.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    assert.equal(h.store.table('secret').get(id)?.sizeBytes, PLAINTEXT.length);
    const ls = await cli(undefined, 'secret', 'ls');
    assert.match(ls.stdout, /ID\s+NAME\s+CREATED\s+UPDATED/);
    assert.match(ls.stdout, /pw/);
    const inspect = await cli(undefined, 'secret', 'inspect', 'pw');
    assert.equal(JSON.parse(inspect.stdout)[0].spec.labels.a, 'b');
    for (const out of [ls.stdout, inspect.stdout, (await cli(undefined, 'secret', 'ls', '--format', 'json')).stdout]) {
      assert.ok(!out.includes(PLAINTEXT) && !out.includes('sealed'));
    }
    const svc = await cli(undefined, 'service', 'create', '-d', '--name', 'app', '--secret', 'source=pw,target=db,mode=0400', 'flotilla/busybox:test');
    assert.equal(svc.code, 0, svc.stderr);
    assert.deepEqual(h.store.services.byName('app')?.spec.taskTemplate.container.secrets, [{ id, name: 'pw', target: 'db', mode: 0o400, uid: '0', gid: '0' }]);
    const unknown = await cli(undefined, 'service', 'create', '-d', '--name', 'x', '--secret', 'ghost', 'flotilla/busybox:test');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /secret ghost not found/);
    const refused = await cli(undefined, 'secret', 'rm', 'pw');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /in use by service app/);
    assert.equal((await cli(undefined, 'service', 'rm', 'app')).code, 0);
    assert.equal((await cli(undefined, 'secret', 'rm', 'pw')).code, 0);
  });

  it('creates and inspects a config', async () => {
    assert.equal((await cli('k=v\n', 'config', 'create', 'c1', '-')).code, 0);
    const inspect = JSON.parse((await cli(undefined, 'config', 'inspect', 'c1')).stdout) as Array<{ data: string }>;
    assert.equal(Buffer.from(inspect[0]?.data ?? '', 'base64').toString(), 'k=v\n');
  });

  it('parses docker-style --secret values and rejects bad ones', () => {
    assert.deepEqual(parseFileRef('pw', '--secret'), { name: 'pw' });
    assert.deepEqual(parseFileRef('source=pw,target=t,uid=1,gid=2,mode=0440', '--secret'), { name: 'pw', target: 't', uid: '1', gid: '2', mode: 0o440 });
    assert.throws(() => parseFileRef('target=t', '--secret'), /source=NAME is required/);
    assert.throws(() => parseFileRef('source=pw,mode=999', '--secret'), /not an octal file mode/);
    assert.throws(() => parseFileRef('source=pw,foo=1', '--config'), /unknown key "foo"/);
  });
});
