/**
 * Issue #11: hostile compose files sent to a running manager through `flotilla stack deploy`,
 * as a user would. Each is refused with a located error, nothing is created, the manager's
 * peak RSS stays bounded and `GET /v1/info` keeps answering while they are refused. How fast
 * the refusals and the answers are is measured by `bench/hostile-compose.ts`, not asserted here.
 *
 * The dev cluster runs without the network data plane (`--no-networking`) and with the exec
 * driver: nothing here programs the host kernel or needs Docker.
 */
import assert from 'node:assert/strict';
import { readFile, cp, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { DevCluster } from './dev-cluster.ts';

const HOSTILE = join(import.meta.dirname, '../../src/compose/testdata/hostile');
/** Generous: the manager idles at ~100 MB; a billion laughs unguarded reached 4.3 GB. */
const RSS_BOUND_BYTES = 1024 * 1024 * 1024;

/** The peak resident set size of a process so far (VmHWM), in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  assert.ok(kb, `no VmHWM in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

/** `GET /v1/info` over the cluster's unix socket; resolves with the status code. */
function info(socketPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/v1/info', timeout: 60_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('GET /v1/info did not answer within 60 s')));
    req.on('error', reject);
    req.end();
  });
}

describe('hostile compose files sent to a running manager', () => {
  let c: DevCluster;
  let dir: string;

  before(async () => {
    c = await DevCluster.start(['--no-networking', '--driver', 'exec']);
    dir = await mkdtemp(join(tmpdir(), 'flotilla-hostile-'));
  });
  after(async () => {
    await c?.stopProcess();
    if (c) await rm(c.home, { recursive: true, force: true });
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  for (const [file, what] of [
    ['billion-laughs.yaml', /compose\.yaml:\d+:\d+: aliases and merge keys expand to more than 100000 nodes/],
    ['merge-keys.yaml', /compose\.yaml:\d+:\d+: aliases and merge keys expand to more than 100000 nodes/],
  ] as const) {
    it(`${file}: refused with a located error, nothing created, /v1/info answering meanwhile, RSS bounded`, async () => {
      const project = join(dir, file.replace('.yaml', ''));
      await cp(join(HOSTILE, file), join(project, 'compose.yaml'), { recursive: true });
      const socket = join(c.home, 'flotilla.sock');

      let deploying = true;
      const answers: number[] = [];
      const polling = (async () => {
        // Paced, so the polling does not itself starve the manager and the CLI of CPU.
        while (deploying) {
          answers.push(await info(socket));
          await delay(20);
        }
      })();
      const r = await c.cli('stack', 'deploy', '-c', join(project, 'compose.yaml'), 'hostile');
      deploying = false;
      await polling;

      assert.notEqual(r.code, 0, r.stdout);
      assert.match(r.stderr, what);
      assert.ok(r.stderr.length < 2000, `a short error, got ${r.stderr.length} characters`);
      assert.ok(answers.length > 0 && answers.every((s) => s === 200), `GET /v1/info answered ${answers.join(', ')}`);
      assert.deepEqual(await c.json<unknown[]>('stack', 'ls'), []);
      assert.deepEqual(await c.json<unknown[]>('service', 'ls'), []);
      const pid = c.pid;
      assert.ok(pid !== undefined);
      const rss = await peakRss(pid);
      assert.ok(rss < RSS_BOUND_BYTES, `peak RSS ${Math.round(rss / 2 ** 20)} MiB`);
    });
  }
});
