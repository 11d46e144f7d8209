/**
 * Secrets and configs end to end on a real Docker engine: created through the CLI, used by a
 * service, readable inside its container from a read-only tmpfs file, and the plaintext found
 * nowhere else — not under the data directory (sqlite file included), not in the API or
 * `secret inspect`, not in `flotilla dev`'s log.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DevCluster, docker, dockerSkipReason, waitUntil, type TaskJson } from './dev-cluster.ts';

const IMAGE = 'flotilla/busybox:test';
const skip = await dockerSkipReason();

/** Every file under `dir` whose bytes contain any of `needles`. */
async function filesContaining(dir: string, needles: readonly Buffer[]): Promise<string[]> {
  const hits: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const bytes = await readFile(path).catch(() => Buffer.alloc(0));
    if (needles.some((n) => bytes.includes(n))) hits.push(path);
  }
  return hits;
}

describe('secrets and configs on a real Docker engine', { skip }, () => {
  let c: DevCluster;
  let scratch: string;
  const plaintext = `s3cr3t-${randomBytes(12).toString('hex')}`;
  const needles = [Buffer.from(plaintext), Buffer.from(Buffer.from(plaintext).toString('base64'))];

  before(async () => {
    c = await DevCluster.start(['--driver', 'docker']);
    scratch = await mkdtemp(join(tmpdir(), 'flotilla-secret-src-'));
  });
  after(async () => {
    await c?.destroy();
    await rm(scratch, { recursive: true, force: true });
  });

  it('delivers a secret and a config into the container and leaks the plaintext nowhere', async () => {
    const secretFile = join(scratch, 'pw.txt');
    await writeFile(secretFile, plaintext);
    const created = await c.cli('secret', 'create', '--label', 'team=db', 'db_pw', secretFile);
    assert.equal(created.code, 0, created.stderr);
    await rm(secretFile);
    await writeFile(join(scratch, 'app.conf'), 'greeting=hello\n');
    assert.equal((await c.cli('config', 'create', 'app_conf', join(scratch, 'app.conf'))).code, 0);
    const missing = await c.cli('secret', 'create', 'nope', join(scratch, 'absent.txt'));
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /cannot read the secret file .*absent\.txt: no such file/);

    const svc = await c.cli(
      'service', 'create', '--name', 'db', '--detach',
      '--secret', 'db_pw',
      '--secret', 'source=db_pw,target=pw_copy,uid=1000,gid=1000,mode=0400',
      '--config', 'source=app_conf,target=/etc/app.conf',
      IMAGE, 'sleep', '3600',
    );
    assert.equal(svc.code, 0, svc.stderr);
    let task: TaskJson | undefined;
    await waitUntil(async () => {
      task = (await c.json<TaskJson[]>('service', 'ps', 'db')).find((t) => t.status.state === 'running');
      return task !== undefined;
    }, 120_000, 'the db task running');
    const cid = task!.status.containerId!;

    assert.equal(await docker('exec', cid, 'cat', '/run/secrets/db_pw'), plaintext);
    assert.equal(await docker('exec', cid, 'cat', '/run/secrets/pw_copy'), plaintext);
    assert.equal((await docker('exec', cid, 'stat', '-c', '%a %u %g', '/run/secrets/pw_copy')).trim(), '400 1000 1000');
    assert.equal(await docker('exec', cid, 'cat', '/etc/app.conf'), 'greeting=hello\n');
    const write = await docker('exec', cid, 'sh', '-c', 'echo x > /run/secrets/db_pw 2>&1 && echo writable || echo read-only');
    assert.equal(write.trim().split('\n').at(-1), 'read-only');
    const mounts = JSON.parse(await docker('inspect', '--format', '{{json .Mounts}}', cid)) as Array<{ Source: string; Destination: string; RW: boolean }>;
    const secretMount = mounts.find((m) => m.Destination === '/run/secrets/db_pw');
    assert.ok(secretMount && !secretMount.RW, 'bound read-only');
    assert.ok(!secretMount.Source.startsWith(c.home), `the host side is not under the data dir: ${secretMount.Source}`);
    const fsType = (await docker('run', '--rm', '-v', `${secretMount.Source}:/x:ro`, IMAGE, 'stat', '-f', '-c', '%T', '/x')).trim();
    assert.equal(fsType, 'tmpfs', 'the host side is on a tmpfs');

    // Nowhere else: data dir (sqlite included), API, inspect, ls, the dev process's log.
    assert.deepEqual(await filesContaining(c.home, needles), []);
    const inspect = await c.cli('secret', 'inspect', 'db_pw');
    assert.equal(inspect.code, 0, inspect.stderr);
    const ls = await c.cli('secret', 'ls', '--format', 'json');
    const svcJson = await c.cli('service', 'inspect', 'db');
    for (const out of [inspect.stdout, ls.stdout, svcJson.stdout, c.log]) {
      for (const n of needles) assert.ok(!out.includes(n.toString()), 'plaintext leaked');
      assert.ok(!out.includes('"sealed"'));
    }
    assert.equal((JSON.parse(inspect.stdout) as Array<{ spec: { labels: Record<string, string> } }>)[0]?.spec.labels['team'], 'db');

    // rm is refused while used, and the tmpfs goes away with the task.
    const refused = await c.cli('secret', 'rm', 'db_pw');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /secret db_pw is in use by service db/);
    assert.equal((await c.cli('service', 'rm', 'db')).code, 0);
    await waitUntil(() => !existsSync(secretMount.Source), 60_000, 'the task tmpfs to be unmounted and removed');
    assert.equal((await c.cli('secret', 'rm', 'db_pw')).code, 0);
    assert.equal((await c.cli('config', 'rm', 'app_conf')).code, 0);
    assert.deepEqual(await filesContaining(c.home, needles), []);
  });
});
