/**
 * Issue #10, item 5: crash consistency, on SQLite and on etcd. A workload driven through the
 * real CLI — stack deploys and redeploys, `service scale`, `service update --image --env-add`,
 * `stack rm`, `service create|rm` (the service operations mostly through the REST API: a CLI
 * start takes about a second here, where the kills would mostly land) — runs while a manager is
 * killed with SIGKILL at random points, then started again on the same data dir and store.
 * Three shapes (`crash-cluster.ts`):
 * - `flotilla dev`: manager and agent in one process (Docker driver), its whole process group
 *   killed; the restart adopts the running containers;
 * - production HA: `flotilla server --no-agent` (SQLite, or etcd) and a separate agent
 *   (`flotilla join` with the worker token, Docker driver); only the manager is killed, the
 *   agent runs through every kill and reconnects on its own;
 * - two `flotilla server --no-agent` on one etcd (the second joined with the manager token):
 *   the leader is killed, the workload goes (at random) through the follower or through the
 *   leader with the CLI and the client failing over; the agent follows the new leader.
 * After each restart:
 * - every write the CLI saw acknowledged is there; the one the kill cut happened wholly or not
 *   at all (a stack deploy never half-applied), checked against the workload's model;
 * - no object exists twice (service and stack names, task ids, two tasks wanted running in one
 *   slot);
 * - every service converges to its replicas of its latest spec, running; no rollout is left
 *   stuck; every container with Flotilla's labels belongs to a task the store knows, and each
 *   running task has its running container;
 * - no task that ran in a slot the workload did not touch since was replaced, stopped or
 *   started again (containers adopted, never restarted; no node marked down by a failover);
 * - (HA) the agent process never exited and its node is ready with a session registered
 *   after the kill (it reconnected to the restarted manager, or to the new leader, by itself).
 *
 * The seed (printed) chooses the operations and the kill points: FLOTILLA_CRASH_SEED=N repeats
 * a run (the operations and delays; where a kill lands in the manager's work also depends on
 * timing). FLOTILLA_CRASH_KILLS=N sets the kills of each dev variant (default 4: the CI run),
 * FLOTILLA_CRASH_HA_KILLS=N those of each HA variant (default 2);
 * FLOTILLA_CRASH_LOGS=DIR keeps the HA processes' whole output there;
 * FLOTILLA_CRASH_TRACE=1 prints every step (a failure always prints the last ones);
 * `npm run test:crash` runs 50 and 20. See docs/testing.md.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { isClientError, type FlotillaClient } from '../../src/client/client.ts';
import { TASK_LABELS } from '../../src/api/service.ts';
import {
  convergenceProblems,
  replacedTasks,
  restartedContainers,
  runningContainers,
  specProblems,
  type ClusterSnapshot,
  type ContainerView,
  type DockerNetworkView,
  type RunningContainers,
  type WantedState,
} from '../../src/testing/crash-invariants.ts';
import { applyOp, chooseOp, cliArgs, composeFile, createSpec, describeOp, EMPTY_STATE, keptSlots, updatedSpec, type CrashOp } from '../../src/testing/crash-workload.ts';
import { TEST_IMAGE } from '../../src/testing/docker-engine.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../../src/testing/etcd-server.ts';
import { Prng } from '../../src/testing/prng.ts';
import { devTarget, ServerCrashCluster, type CrashTarget } from './crash-cluster.ts';
import { docker, dockerSkipReason } from './dev-cluster.ts';

const PREFIX = 'crash';
/** Two tags of the test image, so an update changes the image name. Removed after. */
const IMAGES = ['crash-busybox:v1', 'crash-busybox:v2'];
const KILLS = Number(process.env['FLOTILLA_CRASH_KILLS'] ?? '4');
const HA_KILLS = Number(process.env['FLOTILLA_CRASH_HA_KILLS'] ?? '2');
const SEED = Prng.seedFrom(process.env['FLOTILLA_CRASH_SEED']);
/** Generous: only catches a cluster that does not converge (or a hang) on a loaded machine. */
const CONVERGE_MS = 240_000;
/** Generous too: an agent backs off up to 5 s between attempts; this only catches one that never comes back. */
const AGENT_MS = 60_000;

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
  const run = crashRun(KILLS, () => devTarget([]));
  after(() => run.cleanup());
  it(`survives ${KILLS} kills and restarts (seed ${SEED})`, { timeout: timeoutFor(KILLS) }, (t) => run.go(t));
});

describe('crash consistency: SIGKILL the manager during deploys, scaling and updates (etcd)', { skip: dockerSkip || skipUnlessEtcd() }, () => {
  const etcd = etcdFor('dev');
  const run = crashRun(KILLS, () => devTarget(etcd.storeArgs()));
  after(async () => {
    await run.cleanup();
    await etcd.stop();
  });
  it(`survives ${KILLS} kills and restarts (seed ${SEED})`, { timeout: timeoutFor(KILLS) }, (t) => run.go(t));
});

describe('crash consistency, HA: SIGKILL `flotilla server --no-agent`, the agent runs on (SQLite)', { skip: dockerSkip }, () => {
  const run = crashRun(HA_KILLS, () => ServerCrashCluster.start([], 1));
  after(() => run.cleanup());
  it(`survives ${HA_KILLS} kills of the manager, the agent reconnecting on its own (seed ${SEED})`, { timeout: timeoutFor(HA_KILLS) }, (t) => run.go(t));
});

describe('crash consistency, HA: SIGKILL `flotilla server --no-agent`, the agent runs on (etcd)', { skip: dockerSkip || skipUnlessEtcd() }, () => {
  const etcd = etcdFor('server');
  const run = crashRun(HA_KILLS, () => ServerCrashCluster.start(etcd.storeArgs(), 1));
  after(async () => {
    await run.cleanup();
    await etcd.stop();
  });
  it(`survives ${HA_KILLS} kills of the manager, the agent reconnecting on its own (seed ${SEED})`, { timeout: timeoutFor(HA_KILLS) }, (t) => run.go(t));
});

describe('crash consistency, HA: two managers on etcd, SIGKILL the leader (etcd)', { skip: dockerSkip || skipUnlessEtcd() }, () => {
  const etcd = etcdFor('two');
  const run = crashRun(HA_KILLS, () => ServerCrashCluster.start(etcd.storeArgs(), 2));
  after(async () => {
    await run.cleanup();
    await etcd.stop();
  });
  it(`survives ${HA_KILLS} kills of the leader, the agent following the new leader (seed ${SEED})`, { timeout: timeoutFor(HA_KILLS) }, (t) => run.go(t));
});

/** A test etcd for one describe block (started in its `before`), and the `--store` of a run on it. */
function etcdFor(name: string): { storeArgs(): string[]; stop(): Promise<void> } {
  let etcd: EtcdTestCluster | undefined;
  before(async () => {
    etcd = await startEtcd();
  });
  return {
    storeArgs: () => ['--store', `etcd://${etcd!.endpoints.join(',')}/crash-${name}-${SEED}`],
    stop: async () => {
      await etcd?.stop();
    },
  };
}

/** A hang guard only: 10 minutes, plus 4 per kill. */
function timeoutFor(kills: number): number {
  return 600_000 + kills * 240_000;
}

/** One variant's run: the processes under test, the workload and its model. */
function crashRun(kills: number, startTarget: () => Promise<CrashTarget>): { go(t: TestContext): Promise<void>; cleanup(): Promise<void> } {
  let cluster: CrashTarget | undefined;
  let workDir: string | undefined;
  const trace: string[] = [];
  const note = (line: string): void => {
    trace.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
  };

  const go = async (t: TestContext): Promise<void> => {
    const rng = new Prng(SEED);
    t.diagnostic(`seed ${SEED} (FLOTILLA_CRASH_SEED=${SEED} repeats it), ${kills} kills`);
    const work = await mkdtemp(join(tmpdir(), 'flotilla-crash-files-'));
    workDir = work;
    const started = Date.now();
    const c = await startTarget();
    cluster = c;
    note(`started in ${Date.now() - started} ms`);
    let wanted: WantedState = EMPTY_STATE;
    let running: RunningContainers = new Map();
    /** The last converged snapshot (with start times) and the state it was converged to. */
    let converged: { snap: ClusterSnapshot; wanted: WantedState } | undefined;
    let gen = 1;
    let ops = 0;
    let cut = 0;
    try {
      for (let k = 1; k <= kills; k++) {
        note(`round ${k}: kills ${await c.prepare(rng)}`);
        // The kill point, while the workload runs operations back to back and the cluster
        // converges behind them: either a delay from now, or a short delay after the n-th
        // acknowledged operation (when the controllers and the agent act on that write).
        const afterAcks = rng.chance(0.5) ? rng.int(1, 4) : 0;
        const delay = afterAcks > 0 ? rng.int(0, 1_500) : rng.int(200, 10_000);
        let killed = false;
        let killedAt = 0;
        let timer: NodeJS.Timeout | undefined;
        let arm: () => void = () => undefined;
        const killer = new Promise<void>((resolve, reject) => {
          arm = () => {
            timer = setTimeout(() => {
              killed = true;
              note(`kill ${k}: SIGKILL ${delay} ms after ${afterAcks > 0 ? `acknowledged operation ${afterAcks}` : 'the start'}`);
              c.kill().then(() => {
                // Once it has exited: nothing it wrote can carry a later time.
                killedAt = Date.now();
                resolve();
              }, reject);
            }, delay);
          };
        });
        if (afterAcks === 0) arm();
        let acks = 0;
        let uncertain: CrashOp | undefined;
        const roundOps: CrashOp[] = [];
        while (!killed) {
          const op = chooseOp(rng, wanted, gen++, { prefix: PREFIX, images: IMAGES });
          // Through the CLI (a stack deploy there loads the files through dry runs first) or,
          // a CLI start being about a second here, through the REST API directly.
          const viaCli = rng.chance(op.kind === 'deploy' || op.kind === 'stack-rm' ? 0.5 : 0.25);
          const pause = rng.chance(0.3) ? rng.int(0, 2_000) : 0;
          note(`op: ${describeOp(op)}${viaCli ? '' : ' (API)'}`);
          ops++;
          const failure = viaCli ? await viaCommand(c, op, work) : await viaApi(c.client, op);
          if (failure === undefined) {
            wanted = applyOp(wanted, op);
            roundOps.push(op);
            if (++acks === afterAcks) arm();
            // Sometimes the cluster converges with no request in flight when the kill lands.
            if (pause > 0) await Promise.race([killer.catch(() => undefined), new Promise((r) => setTimeout(r, pause))]);
            continue;
          }
          // A failure is the kill's only when the kill came first: then the op may or may not
          // have happened. Any other failure is a bug (every op is valid for the model).
          if (!killed) {
            clearTimeout(timer);
            assert.fail(`${describeOp(op)} failed without a kill: ${failure}`);
          }
          note(`  cut by the kill: ${failure}`);
          uncertain = op;
          cut++;
        }
        await killer;
        await c.restart();
        note(`restarted`);
        const resolved = await resolveCut(c, wanted, uncertain);
        if (resolved !== wanted && uncertain) roundOps.push(uncertain);
        wanted = resolved;
        // The agent (HA) comes back on its own, within its backoff; then the cluster converges.
        await reconnected(c, killedAt, `after kill ${k}`);
        note(`  the agent reconnected`);
        const snap = await converge(c.client, wanted, `after kill ${k}`, note);
        note(`converged after kill ${k}`);
        assert.deepEqual(restartedContainers(running, snap), [], `after kill ${k}: the restart adopted the running containers, it did not restart them`);
        if (converged) {
          const kept = keptSlots(converged.wanted, roundOps);
          assert.deepEqual(replacedTasks(converged.snap, snap, kept), [], `after kill ${k}: no task the workload left alone was replaced or restarted`);
        }
        running = runningContainers(snap);
        converged = { snap, wanted };
      }
      // Finally everything the workload made goes, and every container with it.
      for (const stack of wanted.stacks.keys()) assert.equal((await c.cli('stack', 'rm', stack)).code, 0);
      for (const s of wanted.services.values()) if (s.stack === undefined) assert.equal((await c.cli('service', 'rm', s.name)).code, 0);
      await converge(c.client, EMPTY_STATE, 'after removing everything');
      const end = await snapshot(c.client);
      assert.deepEqual(end.containers.filter((x) => x.running), [], 'no container runs after every service was removed');
      if (process.env['FLOTILLA_CRASH_TRACE'] === '1') for (const line of trace) t.diagnostic(line);
      t.diagnostic(`${kills} kills, ${ops} operations (${cut} cut by a kill) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${message}\n--- seed ${SEED}; the workload's last steps:\n${tail(trace)}\n${c.log()}`, { cause: err });
    }
  };

  /**
   * The state after a restart: what the workload wanted, with the operation the kill cut
   * applied if the store says it happened. Anything else (the cut operation half applied, an
   * acknowledged write lost, an object twice) fails. With several managers the manager that
   * answers may not have seen the last writes through another yet: read again until
   * `readLagMs` has passed (before failing, and before concluding the cut op did not happen).
   */
  async function resolveCut(c: CrashTarget, wanted: WantedState, cut: CrashOp | undefined): Promise<WantedState> {
    const deadline = Date.now() + c.readLagMs;
    for (;;) {
      const snap = await snapshot(c.client);
      const before = specProblems(snap, wanted, PREFIX);
      if (cut === undefined) {
        if (before.length > 0 && (await again(deadline))) continue;
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
        // With several managers, the one answering may not have seen the cut write through the
        // other yet: "did not happen" only once it still holds at the deadline (at once with one).
        if (await again(deadline)) continue;
        note(`  the cut ${describeOp(cut)} did not happen`);
        return wanted;
      }
      if (await again(deadline)) continue;
      assert.fail(
        `after the restart the store matches neither the state before the cut ${describeOp(cut)} nor after it (half applied, or an acknowledged write lost):\n` +
          `as if it did not happen: ${before.join('; ')}\nas if it happened: ${afterCut.join('; ')}\n(data in ${c.home})`,
      );
    }
  }

  /** Before `deadline`: waits a moment and says to read again. */
  async function again(deadline: number): Promise<boolean> {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
    return true;
  }

  const cleanup = async (): Promise<void> => {
    await cluster?.destroy();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  };
  return { go, cleanup };
}

/** Runs `op` with the CLI; undefined when it succeeded, else the error it printed. */
async function viaCommand(c: CrashTarget, op: CrashOp, work: string): Promise<string | undefined> {
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
        // As the CLI sends it after its dry run: the file, and the `.env` it does not have.
        await client.deployStack({ name: op.stack, composeFiles: ['compose.yaml'], files: [{ path: 'compose.yaml', content: composeFile(op) }], missingFiles: ['.env'] });
        return undefined;
      case 'stack-rm':
        await client.removeStack(op.stack);
        return undefined;
    }
  } catch (err) {
    return `${op.kind} through the API: ${isClientError(err) ? `${err.code}: ${err.message}` : String(err)}`;
  }
}

/**
 * Waits (re-reading the state, up to CONVERGE_MS) until the cluster holds `wanted` and has
 * converged; returns that snapshot, with its running containers' start times.
 */
async function converge(client: FlotillaClient, wanted: WantedState, when: string, note: (line: string) => void = () => undefined): Promise<ClusterSnapshot> {
  const start = Date.now();
  const deadline = start + CONVERGE_MS;
  let last: string[] = [];
  let noted = 0;
  for (;;) {
    // What a slow convergence waits on, in the trace (every 5 s).
    if (last.length > 0 && Date.now() - start > (noted + 1) * 5_000) {
      noted++;
      note(`  still converging after ${Date.now() - start} ms: ${last.slice(0, 4).join('; ')}`);
    }
    const snap = await snapshot(client);
    const spec = specProblems(snap, wanted, PREFIX);
    // The specs do not converge: they are what was written.
    assert.deepEqual(spec, [], `${when}: the store holds every acknowledged write, each object once`);
    last = convergenceProblems(snap);
    if (last.length === 0) {
      // Read again with start times: converged twice in a row, nothing moved in between.
      const timed = await snapshot(client, true);
      if (convergenceProblems(timed).length === 0) return timed;
    }
    if (Date.now() > deadline) assert.fail(`${when}: not converged after ${CONVERGE_MS} ms:\n  ${last.join('\n  ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Waits (up to AGENT_MS, re-reading the nodes) until the target says its agents ran through the
 * kill at `killedAt` and reconnected on their own; fails with what is still wrong.
 */
async function reconnected(c: CrashTarget, killedAt: number, when: string): Promise<void> {
  const deadline = Date.now() + AGENT_MS;
  for (;;) {
    const problems = c.agentProblems(await c.client.listNodes(), killedAt);
    if (problems.length === 0) return;
    if (Date.now() > deadline) assert.deepEqual(problems, [], `${when}: the agent ran through the kill and reconnected on its own (waited ${AGENT_MS} ms)`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The cluster's services, tasks, stacks and networks, and this node's containers and Docker networks. */
async function snapshot(client: FlotillaClient, startTimes = false): Promise<ClusterSnapshot> {
  const [services, tasks, stacks, networks, nodes] = await Promise.all([client.listServices(), client.listTasks(), client.listStacks(), client.listNetworks(), client.listNodes()]);
  const containers: ContainerView[] = [];
  const dockerNetworks: DockerNetworkView[] = [];
  for (const node of nodes) {
    const mine = `label=${TASK_LABELS.nodeId}=${node.id}`;
    const out = await docker('ps', '-a', '--no-trunc', '--filter', mine, '--filter', `label=${TASK_LABELS.taskId}`, '--format', `{{.ID}} {{.State}} {{.Label "${TASK_LABELS.taskId}"}}`);
    for (const line of out.split('\n')) {
      const [id, state, taskId] = line.trim().split(' ');
      if (id && state && taskId) containers.push({ id, running: state === 'running', taskId });
    }
    const nets = await docker('network', 'ls', '--filter', mine, '--format', `{{.Name}} {{.Label "${NETWORK_LABEL}"}}`);
    for (const line of nets.split('\n')) {
      const [name, networkId] = line.trim().split(' ');
      if (name && networkId) dockerNetworks.push({ name, networkId });
    }
  }
  const running = containers.filter((c) => c.running).map((c) => c.id);
  if (startTimes && running.length > 0) {
    const started = new Map<string, string>();
    const out = await docker('inspect', '--format', '{{.Id}} {{.State.StartedAt}}', ...running).catch(() => '');
    for (const line of out.split('\n')) {
      const [id, at] = line.trim().split(' ');
      if (id && at) started.set(id, at);
    }
    return { services, tasks, stacks, networks, dockerNetworks, containers: containers.map((c) => ({ ...c, ...(started.has(c.id) ? { startedAt: started.get(c.id)! } : {}) })) };
  }
  return { services, tasks, stacks, networks, dockerNetworks, containers };
}

/** The label an agent puts on the Docker networks it makes (`agent/network/docker-networks.ts`). */
const NETWORK_LABEL = 'flotilla.network.id';

function tail(lines: readonly string[]): string {
  return lines.slice(-60).join('\n');
}
