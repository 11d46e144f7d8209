/**
 * #3 acceptance on a real Docker engine: compose stacks deployed through `flotilla stack
 * deploy` on `flotilla dev`; the containers carry what the files ask for (`docker inspect`);
 * redeploy updates only what changed, `--prune` removes a dropped service, `stack rm` removes
 * everything, and a malformed file is rejected with file:line:column and changes nothing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DevCluster, docker, dockerSkipReason, waitUntil, type TaskJson } from './dev-cluster.ts';
import { BAD_STACK_CASES, BAD_STACKS_DIR } from '../../src/testing/compose-errors.ts';

const skip = await dockerSkipReason();
const DATA = join(import.meta.dirname, 'stacks');

interface ServiceJson {
  id: string;
  specVersion: number;
  spec: { name: string; labels: Record<string, string> };
}

interface ContainerJson {
  Config: { Env: string[]; Labels: Record<string, string>; Cmd: string[] | null; Healthcheck?: { Test: string[]; Interval: number } };
  HostConfig: { Memory: number; NanoCpus: number };
  Mounts: Array<{ Type: string; Name?: string; Destination: string }>;
}

/** The running containers of a service; one that goes away between list and inspect is skipped. */
async function containersOf(service: string): Promise<ContainerJson[]> {
  const ids = (await docker('ps', '-q', '--filter', `label=flotilla.service.name=${service}`)).split(/\s+/).filter(Boolean);
  const found: ContainerJson[] = [];
  for (const id of ids) {
    const one = await docker('inspect', id).catch(() => '[]');
    found.push(...(JSON.parse(one) as ContainerJson[]));
  }
  return found;
}

async function stackContainers(stack: string): Promise<string[]> {
  return (await docker('ps', '-aq', '--filter', `label=com.docker.stack.namespace=${stack}`)).split(/\s+/).filter(Boolean);
}

describe('compose stacks on a real Docker engine', { skip }, () => {
  let c: DevCluster;
  let dir: string;

  const running = async (service: string): Promise<TaskJson[]> =>
    (await c.json<TaskJson[]>('service', 'ps', service)).filter((t) => t.desiredState === 'running' && t.status.state === 'running');
  const snapshot = async (): Promise<string> => {
    const parts = await Promise.all([c.json<unknown[]>('service', 'ls'), c.json<unknown[]>('stack', 'ls')]);
    return JSON.stringify(parts);
  };

  before(async () => {
    c = await DevCluster.start(['--driver', 'docker']);
    dir = await mkdtemp(join(tmpdir(), 'flotilla-stacks-'));
    await cp(DATA, dir, { recursive: true });
  });
  after(async () => {
    await c?.destroy();
    if (dir) await rm(dir, { recursive: true, force: true });
    const left = (await docker('volume', 'ls', '-q', '--filter', 'label=com.docker.stack.namespace=shop')).split(/\s+/).filter(Boolean);
    if (left.length > 0) await docker('volume', 'rm', '-f', ...left).catch(() => '');
  });

  it('deploys a web app with a database and a cache; containers carry what the file asks for', async () => {
    const r = await c.cli('stack', 'deploy', '-c', join(dir, 'webapp/compose.yaml'), '--wait', '--timeout', '5m', 'shop');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Creating service shop_web/);
    assert.match(r.stdout, /Creating config shop_app/);

    const services = await c.json<ServiceJson[]>('stack', 'services', 'shop');
    assert.deepEqual(services.map((s) => s.spec.name).sort(), ['shop_cache', 'shop_db', 'shop_web']);
    for (const s of services) assert.equal(s.spec.labels['com.docker.stack.namespace'], 'shop');

    const web = await containersOf('shop_web');
    assert.equal(web.length, 2);
    for (const ct of web) {
      assert.ok(ct.Config.Env.includes('DATABASE_URL=postgres://db:5432/app'));
      assert.ok(ct.Config.Env.includes('MODE=production'));
      assert.equal(ct.Config.Labels['com.docker.stack.namespace'], 'shop');
      assert.equal(ct.Config.Labels['app.tier'], 'front');
      assert.deepEqual(ct.Config.Cmd, ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www']);
      assert.equal(ct.HostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(ct.HostConfig.NanoCpus, 500_000_000);
      assert.deepEqual(ct.Config.Healthcheck?.Test, ['CMD', 'wget', '-q', '-O', '/dev/null', 'http://localhost:8080/']);
      assert.equal(ct.Config.Healthcheck?.Interval, 2_000_000_000);
    }
    const cache = await containersOf('shop_cache');
    assert.equal(cache[0]?.HostConfig.Memory, 32 * 1024 * 1024);
  });

  it('mounts the named volume and the config file', async () => {
    const [db] = await containersOf('shop_db');
    assert.ok(db?.Mounts.some((m) => m.Type === 'volume' && m.Name === 'shop_dbdata' && m.Destination === '/var/lib/db'));
    const [web] = await containersOf('shop_web');
    assert.ok(web, 'a web container');
    const id = (await docker('ps', '-q', '--filter', 'label=flotilla.service.name=shop_web')).split(/\s+/)[0] ?? '';
    assert.equal((await docker('exec', id, 'cat', '/etc/app.conf')).trim(), 'listen=8080');
  });

  it('delivers the stack secret to its container only, and its plaintext nowhere else', async () => {
    const plaintext = 'stack-secret-value-4f2a9c';
    const db = (await docker('ps', '-q', '--filter', 'label=flotilla.service.name=shop_db')).split(/\s+/)[0] ?? '';
    assert.equal((await docker('exec', db, 'cat', '/run/secrets/db_password')).trim(), plaintext);
    const web = (await docker('ps', '-q', '--filter', 'label=flotilla.service.name=shop_web')).split(/\s+/)[0] ?? '';
    assert.notEqual(await docker('exec', web, 'cat', '/run/secrets/db_password').catch(() => 'absent'), plaintext + '\n');
    const shown = [
      (await c.cli('secret', 'ls', '--format', 'json')).stdout,
      (await c.cli('secret', 'inspect', 'shop_db_password', '--format', 'json')).stdout,
      (await c.cli('stack', 'ls', '--format', 'json')).stdout,
      (await c.cli('service', 'inspect', 'shop_db', '--format', 'json')).stdout,
      c.log,
    ].join('\n');
    assert.match(shown, /shop_db_password/);
    assert.doesNotMatch(shown, new RegExp(plaintext));
    const grep = await new Promise<number>((resolve) => {
      execFile('grep', ['-r', '-q', '-a', plaintext, c.home], (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0));
    });
    assert.equal(grep, 1, 'the plaintext is in no file under the data directory');
  });

  it('redeploys only the changed service, keeps or prunes a dropped one, and rm removes everything', async () => {
    const before = await c.json<ServiceJson[]>('stack', 'services', 'shop');
    const version = (n: string): number | undefined => before.find((s) => s.spec.name === n)?.specVersion;
    const file = join(dir, 'webapp/compose.yaml');
    const r = await c.cli('stack', 'deploy', '-c', file, 'shop');
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /Updating|Creating/, 'an identical redeploy changes nothing');

    const changed = (await readFile(file, 'utf8')).replace('MODE: ${MODE:-production}', 'MODE: staging');
    await writeFile(file, changed);
    const u = await c.cli('stack', 'deploy', '-c', file, '--wait', '--timeout', '5m', 'shop');
    assert.equal(u.code, 0, u.stderr);
    assert.match(u.stdout, /Updating service shop_web/);
    const afterUpdate = await c.json<ServiceJson[]>('stack', 'services', 'shop');
    for (const s of afterUpdate) {
      if (s.spec.name === 'shop_web') assert.equal(s.specVersion, (version('shop_web') ?? 0) + 1);
      else assert.equal(s.specVersion, version(s.spec.name), `${s.spec.name} untouched`);
    }
    // The replaced containers stop within their grace period after the rollout converged.
    await waitUntil(async () => {
      const web = await containersOf('shop_web');
      return web.length > 0 && web.every((ct) => ct.Config.Env.includes('MODE=staging'));
    }, 120_000, 'every running shop_web container on the new spec');

    const noCache = changed.replace(/\n  cache:\n(?: {4}.*\n)+/, '\n').replace(/\n      cache: \{ condition: service_started \}/, '');
    await writeFile(file, noCache);
    const kept = await c.cli('stack', 'deploy', '-c', file, 'shop');
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stderr, /shop_cache no longer in the compose files; kept/);
    assert.equal((await c.json<ServiceJson[]>('stack', 'services', 'shop')).length, 3);
    const pruned = await c.cli('stack', 'deploy', '-c', file, '--prune', 'shop');
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.match(pruned.stdout, /Removing service shop_cache/);
    await waitUntil(async () => (await containersOf('shop_cache')).length === 0, 60_000, 'shop_cache containers removed');

    const rmr = await c.cli('stack', 'rm', 'shop');
    assert.equal(rmr.code, 0, rmr.stderr);
    assert.equal((await c.json<unknown[]>('stack', 'ls')).length, 0);
    assert.equal((await c.json<unknown[]>('service', 'ls')).length, 0);
    assert.equal((await c.json<unknown[]>('secret', 'ls')).length, 0, 'the stack secret is removed too');
    assert.equal((await c.json<unknown[]>('config', 'ls')).length, 0, 'the stack config is removed too');
    await waitUntil(async () => (await stackContainers('shop')).length === 0, 60_000, 'every container of stack shop removed');
  });

  it('deploys a reverse proxy in front of two back ends', async () => {
    const r = await c.cli('stack', 'deploy', '-c', join(dir, 'proxy/compose.yaml'), '--wait', '--timeout', '5m', 'edge');
    assert.equal(r.code, 0, r.stderr);
    for (const s of ['edge_proxy', 'edge_one', 'edge_two']) assert.equal((await running(s)).length, 1, s);
    const [proxy] = await containersOf('edge_proxy');
    assert.ok(proxy?.Config.Env.includes('UPSTREAMS=one:8001,two:8002'));
    const ps = await c.cli('stack', 'ps', 'edge');
    assert.match(ps.stdout, /edge_one\.1/);
    assert.equal((await c.cli('stack', 'rm', 'edge')).code, 0);
  });

  it('rejects each kind of malformed file with file:line:column and changes nothing', async () => {
    const beforeState = await snapshot();
    for (const [file, expected] of BAD_STACK_CASES) {
      const r = await c.cli('stack', 'deploy', '-c', join(BAD_STACKS_DIR, file), 'broken');
      assert.equal(r.code, 1, `${file}: ${r.stderr}`);
      assert.match(r.stderr, expected, file);
    }
    assert.equal(await snapshot(), beforeState);
  });
});
