/**
 * Issue #10, item 5: crash consistency, on SQLite and on etcd. A real `flotilla dev` (manager
 * and agent in one process, Docker driver) runs a workload driven through the real CLI — stack
 * deploys and redeploys, `service scale`, `service update --image --env-add`, `stack rm`,
 * `service create|rm` (the service operations mostly through the REST API: a CLI start takes
 * about a second here, where the kills would mostly land) — and is killed with SIGKILL (its whole process group) at random points,
 * then started again on the same data dir and store. After each restart:
 * - every write the CLI saw acknowledged is there; the one the kill cut happened wholly or not
 *   at all (a stack deploy never half-applied), checked against the workload's model;
 * - no object exists twice (service and stack names, task ids, two tasks wanted running in one
 *   slot);
 * - every service converges to its replicas of its latest spec, running; no rollout is left
 *   stuck; every container with Flotilla's labels belongs to a task the store knows, and each
 *   running task has its running container.
 *
 * The seed (printed) chooses the operations and the kill points: FLOTILLA_CRASH_SEED=N repeats
 * a run (the operations and delays; where a kill lands in the manager's work also depends on
 * timing). FLOTILLA_CRASH_KILLS=N sets the kills per backend (default 4: the CI run);
 * FLOTILLA_CRASH_TRACE=1 prints every step (a failure always prints the last ones);
 * `npm run test:crash` runs 50. See docs/testing.md.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { FlotillaClient, isClientError } from '../../src/client/client.ts';
import { TASK_LABELS } from '../../src/api/service.ts';
import { convergenceProblems, specProblems, type ClusterSnapshot, type ContainerView, type WantedState } from '../../src/testing/crash-invariants.ts';
import { applyOp, chooseOp, cliArgs, composeFile, createSpec, describeOp, EMPTY_STATE, updatedSpec, type CrashOp } from '../../src/testing/crash-workload.ts';
import { TEST_IMAGE } from '../../src/testing/docker-engine.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../../src/testing/etcd-server.ts';
import { Prng } from '../../src/testing/prng.ts';
import { DevCluster, docker, dockerSkipReason } from './dev-cluster.ts';

const PREFIX = 'crash';
/** Two tags of the test image, so an update changes the image name. Removed after. */
const IMAGES = ['crash-busybox:v1', 'crash-busybox:v2'];
const KILLS = Number(process.env['FLOTILLA_CRASH_KILLS'] ?? '4');
const SEED = Prng.seedFrom(process.env['FLOTILLA_CRASH_SEED']);
/** Generous: only catches a cluster that does not converge (or a hang) on a loaded machine. */
const CONVERGE_MS = 240_000;

const dockerSkip = await skipReason();

async function skipReason(): Promise<string | false> {
  const reason = await dockerSkipReason();
  if (reason !== undefined) return `skipped: ${reason}`;
  const image = await docker('image', 'inspect', TEST_IMAGE).then(
    () => undefined,
    () => `image ${TEST_IMAGE} is missing: run scripts/build-images.sh`,
  );
  if (image === undefined) return false;
  if (process.env['FLOTILLA_REQUIRE_DOCKER'] === '1') throw new Error(`FLOTILLA_REQUIRE_DOCKER=1 but ${image}`);
  return `skipped: ${image}`;
}

before(async () => {
  if (dockerSkip !== false) return;
  for (const tag of IMAGES) await docker('tag', TEST_IMAGE, tag);
});
after(async () => {
  if (dockerSkip !== false) return;
  // Removes the tags only: the image stays under its own name.
  await docker('rmi', ...IMAGES).catch(() => '');
});

describe('crash consistency: SIGKILL the manager during deploys, scaling and updates (SQLite)', { skip: dockerSkip }, () => {
  const run = crashRun(() => []);
  after(() => run.cleanup());
  it(`survives ${KILLS} kills and restarts (seed ${SEED})`, { timeout: timeoutFor(KILLS) }, (t) => run.go(t));
});

describe('crash consistency: SIGKILL the manager during deploys, scaling and updates (etcd)', { skip: dockerSkip || skipUnlessEtcd() }, () => {
  let etcd: EtcdTestCluster | undefined;
  before(async () => {
    etcd = await startEtcd();
  });
  const run = crashRun(() => ['--store', `etcd://${etcd!.endpoints.join(',')}/crash-${SEED}`]);
  after(async () => {
    await run.cleanup();
    await etcd?.stop();
  });
  it(`survives ${KILLS} kills and restarts (seed ${SEED})`, { timeout: timeoutFor(KILLS) }, (t) => run.go(t));
});

/** A hang guard only: 10 minutes, plus 4 per kill. */
function timeoutFor(kills: number): number {
  return 600_000 + kills * 240_000;
}

/** One backend's run: the dev process, the workload and its model. */
function crashRun(storeArgs: () => string[]): { go(t: TestContext): Promise<void>; cleanup(): Promise<void> } {
  let cluster: DevCluster | undefined;
  let workDir: string | undefined;
  const trace: string[] = [];
  const note = (line: string): void => {
    trace.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
  };

  const go = async (t: TestContext): Promise<void> => {
    const rng = new Prng(SEED);
    t.diagnostic(`seed ${SEED} (FLOTILLA_CRASH_SEED=${SEED} repeats it), ${KILLS} kills`);
    const work = await mkdtemp(join(tmpdir(), 'flotilla-crash-files-'));
    workDir = work;
    const started = Date.now();
    const c = await DevCluster.start(['--driver', 'docker', '--dashboard-addr', 'off', '--metrics-addr', 'off', ...storeArgs()], {
      prefix: 'flotilla-crash-',
      processGroup: true,
    });
    cluster = c;
    const client = new FlotillaClient({ socketPath: join(c.home, 'flotilla.sock') });
    let wanted: WantedState = EMPTY_STATE;
    let gen = 1;
    let ops = 0;
    let cut = 0;
    try {
      for (let k = 1; k <= KILLS; k++) {
        // The kill point: a delay from now, while the workload runs operations back to back
        // and the cluster converges behind them.
        const delay = rng.int(200, 10_000);
        let killed = false;
        const killer = new Promise<void>((resolve, reject) => {
          setTimeout(() => {
            killed = true;
            note(`kill ${k}: SIGKILL after ${delay} ms`);
            c.kill().then(resolve, reject);
          }, delay);
        });
        let uncertain: CrashOp | undefined;
        while (!killed) {
          const op = chooseOp(rng, wanted, gen++, { prefix: PREFIX, images: IMAGES });
          // Stacks go through the CLI (it loads the files through dry runs); the rest through
          // the CLI or, a CLI start being about a second here, mostly the REST API directly.
          const viaCli = op.kind === 'deploy' || op.kind === 'stack-rm' || rng.chance(0.25);
          const pause = rng.chance(0.3) ? rng.int(0, 2_000) : 0;
          note(`op: ${describeOp(op)}${viaCli ? '' : ' (API)'}`);
          ops++;
          const failure = viaCli ? await viaCommand(c, op, work) : await viaApi(client, op);
          if (failure === undefined) {
            wanted = applyOp(wanted, op);
            // Sometimes the cluster converges with no request in flight when the kill lands.
            if (pause > 0) await Promise.race([killer.catch(() => undefined), new Promise((r) => setTimeout(r, pause))]);
            continue;
          }
          // A failure is the kill's only when the kill came first: then the op may or may not
          // have happened. Any other failure is a bug (every op is valid for the model).
          if (!killed) {
            await killer.catch(() => undefined);
            assert.fail(`${describeOp(op)} failed without a kill: ${failure}`);
          }
          note(`  cut by the kill: ${failure}`);
          uncertain = op;
          cut++;
        }
        await killer;
        await c.startProcess();
        note(`restarted`);
        wanted = await resolveCut(client, c, wanted, uncertain);
        await converge(client, wanted, `after kill ${k}`);
        note(`converged after kill ${k}`);
      }
      // Finally everything the workload made goes, and every container with it.
      for (const stack of wanted.stacks.keys()) assert.equal((await c.cli('stack', 'rm', stack)).code, 0);
      for (const s of wanted.services.values()) if (s.stack === undefined) assert.equal((await c.cli('service', 'rm', s.name)).code, 0);
      await converge(client, EMPTY_STATE, 'after removing everything');
      const containers = await containersOf(client);
      assert.deepEqual(containers.filter((x) => x.running), [], 'no container runs after every service was removed');
      if (process.env['FLOTILLA_CRASH_TRACE'] === '1') for (const line of trace) t.diagnostic(line);
      t.diagnostic(`${KILLS} kills, ${ops} operations (${cut} cut by a kill) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${message}\n--- seed ${SEED}; the workload's last steps:\n${tail(trace)}\n--- dev log (end):\n${c.log.slice(-6_000)}`, { cause: err });
    }
  };

  /**
   * The state after a restart: what the workload wanted, with the operation the kill cut
   * applied if the store says it happened. Anything else (the cut operation half applied, an
   * acknowledged write lost, an object twice) fails.
   */
  async function resolveCut(client: FlotillaClient, c: DevCluster, wanted: WantedState, cut: CrashOp | undefined): Promise<WantedState> {
    const snap = await snapshot(client);
    const before = specProblems(snap, wanted, PREFIX);
    if (cut === undefined) {
      assert.deepEqual(before, [], 'the store holds every acknowledged write, each object once');
      return wanted;
    }
    const applied = applyOp(wanted, cut);
    const afterCut = specProblems(snap, applied, PREFIX);
    if (afterCut.length === 0) {
      note(`  the cut ${describeOp(cut)} happened`);
      return applied;
    }
    if (before.length === 0) {
      note(`  the cut ${describeOp(cut)} did not happen`);
      return wanted;
    }
    assert.fail(
      `after the restart the store matches neither the state before the cut ${describeOp(cut)} nor after it (half applied, or an acknowledged write lost):\n` +
        `as if it did not happen: ${before.join('; ')}\nas if it happened: ${afterCut.join('; ')}\n(dev data in ${c.home})`,
    );
  }

  const cleanup = async (): Promise<void> => {
    await cluster?.destroy();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  };
  return { go, cleanup };
}

/** Runs `op` with the CLI; undefined when it succeeded, else the error it printed. */
async function viaCommand(c: DevCluster, op: CrashOp, work: string): Promise<string | undefined> {
  const path = join(work, `${op.kind === 'deploy' ? op.stack : 'none'}.yaml`);
  if (op.kind === 'deploy') await writeFile(path, composeFile(op));
  const r = await c.cli(...cliArgs(op, path));
  return r.code === 0 ? undefined : `flotilla ${cliArgs(op, path).join(' ')}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' / ')}`;
}

/** Makes `op`'s requests with the typed client; undefined when they succeeded, else the error. */
async function viaApi(client: FlotillaClient, op: CrashOp): Promise<string | undefined> {
  try {
    switch (op.kind) {
      case 'create':
        await client.createService(createSpec(op));
        return undefined;
      case 'rm':
        await client.removeService(op.service);
        return undefined;
      case 'scale':
        await client.scaleService(op.service, op.replicas);
        return undefined;
      case 'update':
        // As the CLI does: read, change, write with the version read; again on a conflict
        // (the orchestrator writes the service's rollout status).
        for (;;) {
          const s = await client.getService(op.service);
          try {
            await client.updateService(op.service, s.version, updatedSpec(s.spec, op));
            return undefined;
          } catch (err) {
            if (!(isClientError(err) && err.code === 'conflict')) throw err;
          }
        }
      case 'deploy':
      case 'stack-rm':
        throw new Error(`${op.kind} goes through the CLI`);
    }
  } catch (err) {
    return `${op.kind} through the API: ${isClientError(err) ? `${err.code}: ${err.message}` : String(err)}`;
  }
}

/** Waits (re-reading the state, up to CONVERGE_MS) until the cluster holds `wanted` and has converged. */
async function converge(client: FlotillaClient, wanted: WantedState, when: string): Promise<void> {
  const deadline = Date.now() + CONVERGE_MS;
  let last: string[] = [];
  for (;;) {
    const snap = await snapshot(client);
    const spec = specProblems(snap, wanted, PREFIX);
    // The specs do not converge: they are what was written.
    assert.deepEqual(spec, [], `${when}: the store holds every acknowledged write, each object once`);
    last = convergenceProblems(snap);
    if (last.length === 0) return;
    if (Date.now() > deadline) assert.fail(`${when}: not converged after ${CONVERGE_MS} ms:\n  ${last.join('\n  ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The cluster's services, tasks, stacks, and this node's containers. */
async function snapshot(client: FlotillaClient): Promise<ClusterSnapshot> {
  const [services, tasks, stacks] = await Promise.all([client.listServices(), client.listTasks(), client.listStacks()]);
  return { services, tasks, stacks, containers: await containersOf(client) };
}

/** Every container of this cluster's nodes (running or not) that carries a task id. */
async function containersOf(client: FlotillaClient): Promise<ContainerView[]> {
  const found: ContainerView[] = [];
  for (const node of await client.listNodes()) {
    const out = await docker('ps', '-a', '--no-trunc', '--filter', `label=${TASK_LABELS.nodeId}=${node.id}`, '--filter', `label=${TASK_LABELS.taskId}`, '--format', `{{.ID}} {{.State}} {{.Label "${TASK_LABELS.taskId}"}}`);
    for (const line of out.split('\n')) {
      const [id, state, taskId] = line.trim().split(' ');
      if (id && state && taskId) found.push({ id, running: state === 'running', taskId });
    }
  }
  return found;
}

function tail(lines: readonly string[]): string {
  return lines.slice(-60).join('\n');
}
