/**
 * `bench/failover.ts --managers 3`: the leader manager dies while a task dies.
 *
 * On this machine: a private etcd cluster (3 members on loopback, `src/testing/etcd-server.ts`),
 * `--managers` `flotilla server` processes on it (the first with `--store etcd://…`, the others
 * with `--join-token` from `flotilla token manager -q`; `--no-agent`, own data dirs and ports),
 * and one agent (`flotilla join`, worker token, `--no-networking`) on the machine's Docker
 * engine running a service `hab-web` of `--replicas` replicas of flotilla/busybox:test.
 *
 * First `--reference` rounds kill one of the service's containers (`docker kill`) with no leader
 * change: seconds until its replacement runs. Then `--rounds` rounds SIGKILL the leader and, at
 * the same moment, `docker kill` one container, and measure seconds until
 *   (a) a surviving manager's GET /v1/managers names a new leader,
 *   (b) a write through a surviving manager succeeds (a node label, through the first survivor),
 *   (c) the killed task's replacement (same slot, new task) is running;
 * then check nothing else moved (every other container still running, the same one; one task
 * per slot), and restart the killed manager (it rejoins as a follower). Progress on stdout; the
 * last line is one JSON object: {"managers","replicas","restartDelay","rounds",
 * "referenceReplacementSeconds":[…],"newLeaderSeconds":[…],"writeSeconds":[…],
 * "replacementSeconds":[…],"rejoinSeconds":[…],"medians":{…},"problems":N}. A round where
 * something else moved is a problem: named on stdout, the processes' logs kept in a directory
 * it names, exit code 1. Everything it made (containers `hab-web.*`, processes, etcd, data) is
 * removed at the end.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Task } from '../src/api/task.ts';
import { FlotillaClient } from '../src/client/client.ts';
import { parseDuration } from '../src/cli/parse.ts';
import { socketPath } from '../src/lib/paths.ts';
import { startEtcd, type EtcdTestCluster } from '../src/testing/etcd-server.ts';
import { freePorts } from '../src/testing/free-port.ts';
import { startCli, stopCli, type CliProcess } from '../test/integration/cli-process.ts';
import { waitFor } from '../test/cluster/wait.ts';

export interface ManagerFailoverOptions {
  readonly managers: number;
  readonly rounds: number;
  readonly reference: number;
  readonly replicas: number;
  /** The service's restart delay (`--restart-delay`), e.g. `0s`; undefined: Flotilla's default. */
  readonly restartDelay: string | undefined;
}

const SERVICE = 'hab-web';
const IMAGE = 'flotilla/busybox:test';
const exec = promisify(execFile);

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** One `flotilla server` process and a client of its unix socket. */
class ManagerProc {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly client: FlotillaClient;
  #args: string[] = [];
  #env: NodeJS.ProcessEnv = {};
  cli: CliProcess | undefined;
  /** Standard error of its earlier lives. */
  log = '';

  constructor(name: string, port: number, dataDir: string) {
    this.name = name;
    this.port = port;
    this.dataDir = dataDir;
    this.client = new FlotillaClient({ socketPath: socketPath(dataDir) });
  }

  get addr(): string {
    return `127.0.0.1:${this.port}`;
  }

  get alive(): boolean {
    return this.cli !== undefined && this.cli.proc.exitCode === null && this.cli.proc.signalCode === null;
  }

  /** Starts it (again, with the same command line) and waits until its API answers. */
  async start(args?: string[], env?: NodeJS.ProcessEnv): Promise<void> {
    if (args) this.#args = args;
    if (env) this.#env = env;
    if (this.cli) this.log += `${this.cli.err}--- restarted ---\n`;
    this.cli = startCli(this.#args, this.#env);
    const cli = this.cli;
    await waitFor(
      async () => {
        if (cli.proc.exitCode !== null) throw new Error(`${this.name} exited (${cli.proc.exitCode}):\n${cli.err}`);
        return this.client.info().then(
          () => true,
          () => false,
        );
      },
      60_000,
      `${this.name}'s API`,
      50,
    );
  }

  kill(): Promise<void> {
    const cli = this.cli!;
    const exited = new Promise((resolve) => cli.proc.once('exit', resolve));
    cli.proc.kill('SIGKILL');
    return exited.then(() => undefined);
  }
}

interface Container {
  readonly id: string;
  readonly name: string;
  readonly state: string;
  readonly taskId: string;
}

/** The service's containers on the machine's engine. */
async function containers(): Promise<Container[]> {
  const { stdout } = await exec('docker', ['ps', '-a', '--no-trunc', '--filter', `label=flotilla.service.name=${SERVICE}`, '--format', '{{.ID}}\t{{.Names}}\t{{.State}}\t{{.Label "flotilla.task.id"}}']);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', name = '', state = '', taskId = ''] = l.split('\t');
      return { id, name, state, taskId };
    })
    .filter((c) => c.name.startsWith(`${SERVICE}.`));
}

const running = (tasks: readonly Task[]): Task[] => tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return round(s[Math.floor(s.length / 2)]!);
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

const secs = (ms: number): number => round(ms / 1000);

export async function runManagerFailover(o: ManagerFailoverOptions): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hab-'));
  const env: NodeJS.ProcessEnv = { ...process.env, FLOTILLA_LOG_LEVEL: process.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' };
  for (const k of ['FLOTILLA_HOME', 'FLOTILLA_HOST', 'FLOTILLA_CONTEXT']) delete env[k];
  let etcd: EtcdTestCluster | undefined;
  let worker: CliProcess | undefined;
  const managers: ManagerProc[] = [];
  const problems: string[] = [];
  try {
    await exec('sh', [join(import.meta.dirname, '../scripts/build-images.sh')]);
    let t = performance.now();
    etcd = await startEtcd({ members: 3 });
    log(`etcd: 3 members on ${etcd.endpoints.join(',')} in ${secs(performance.now() - t)} s`);
    const store = `etcd://${etcd.endpoints.join(',')}/hab-${randomUUID().slice(0, 8)}`;
    const ports = await freePorts(o.managers);
    for (const [i, port] of ports.entries()) managers.push(new ManagerProc(`m${i + 1}`, port, join(dir, `m${i + 1}`)));
    const serverArgs = (m: ManagerProc, extra: string[]): string[] => [
      'server', '--store', store, '--listen-addr', m.addr, '--advertise-addr', '127.0.0.1', '--data-dir', m.dataDir, '--no-agent', '--metrics-addr', 'off', ...extra,
    ];
    t = performance.now();
    const first = managers[0]!;
    await first.start(serverArgs(first, []), env);
    const token = async (role: 'worker' | 'manager'): Promise<string> =>
      (await exec(process.execPath, [join(import.meta.dirname, '../bin/flotilla.js'), '--host', `unix://${socketPath(first.dataDir)}`, 'token', role, '-q'], { env })).stdout.trim();
    const managerToken = await token('manager');
    for (const m of managers.slice(1)) await m.start(serverArgs(m, ['--join-token', managerToken]), env);
    await waitFor(async () => (await first.client.listManagers()).managers.length === o.managers, 30_000, `${o.managers} managers`, 50);
    log(`managers: ${o.managers} on ${managers.map((m) => m.addr).join(', ')} in ${secs(performance.now() - t)} s`);

    worker = startCli(['join', '--token', await token('worker'), '--data-dir', join(dir, 'worker'), '--driver', 'docker', '--no-networking', '--metrics-addr', 'off', first.addr], env);
    const workerNode = async (c: FlotillaClient): Promise<string | undefined> =>
      (await c.listNodes()).find((n) => n.spec.role === 'worker' && n.status.state === 'ready')?.id;
    await waitFor(async () => {
      if (worker!.proc.exitCode !== null) throw new Error(`flotilla join exited:\n${worker!.err}`);
      return (await workerNode(first.client)) !== undefined;
    }, 60_000, 'the worker node ready');
    const nodeId = (await workerNode(first.client))!;

    await first.client.createService({
      name: SERVICE,
      replicas: o.replicas,
      taskTemplate: {
        container: { image: IMAGE, command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'], stopGracePeriodMs: 2_000 },
        ...(o.restartDelay === undefined ? {} : { restartPolicy: { delayMs: parseDuration(o.restartDelay, '--restart-delay') } }),
      },
    });
    t = performance.now();
    await waitFor(async () => running(await first.client.listTasks({ service: SERVICE })).length === o.replicas, 120_000, `${o.replicas} running tasks`);
    log(`service: ${SERVICE}, ${o.replicas} replicas running in ${secs(performance.now() - t)} s (restart delay ${o.restartDelay ?? 'default'})`);

    const live = (): ManagerProc[] => managers.filter((m) => m.alive);
    const leaderOf = async (c: FlotillaClient): Promise<ManagerProc | undefined> => {
      const l = (await c.listManagers()).managers.find((m) => m.leader);
      return managers.find((m) => m.addr === l?.addr);
    };

    /**
     * Kills a running container (and, with `leader`, SIGKILLs that manager at the same moment);
     * resolves with the killed task and the moment of the kill.
     */
    const strike = async (via: FlotillaClient, leader?: ManagerProc): Promise<{ task: Task; t0: number; before: Container[]; struck: Promise<unknown> }> => {
      const tasks = running(await via.listTasks({ service: SERVICE }));
      const before = (await containers()).filter((c) => c.state === 'running');
      const victim = tasks.find((task) => before.some((c) => c.taskId === task.id));
      if (!victim) throw new Error('no running container of the service to kill');
      const container = before.find((c) => c.taskId === victim.id)!;
      const t0 = performance.now();
      // Not awaited here: the clocks run from the signals, and `docker kill` takes a while itself.
      const struck = Promise.all([leader?.kill(), exec('docker', ['kill', container.id])]);
      return { task: victim, t0, before, struck };
    };
    /** Until the replacement of `task` (same slot, another task) runs, as `via` reports. */
    const replaced = (via: () => FlotillaClient, task: Task): Promise<number> =>
      waitFor(
        async () => {
          try {
            const tasks = await via().listTasks({ service: SERVICE });
            return tasks.some((x) => x.slot === task.slot && x.id !== task.id && x.status.state === 'running' && x.desiredState === 'running');
          } catch {
            return false; // a manager going away under the request: ask again
          }
        },
        120_000,
        `the replacement of task ${task.id} (slot ${task.slot})`,
        25,
      );
    /** What moved besides the killed task: containers restarted or gone, slots doubled or empty. */
    const settle = async (via: FlotillaClient, killed: Task, before: Container[]): Promise<string[]> => {
      await waitFor(async () => running(await via.listTasks({ service: SERVICE })).length === o.replicas, 60_000, `${o.replicas} running tasks`);
      const found: string[] = [];
      const tasks = await via.listTasks({ service: SERVICE });
      const perSlot = new Map<number, number>();
      for (const x of tasks) if (x.desiredState === 'running') perSlot.set(x.slot ?? 0, (perSlot.get(x.slot ?? 0) ?? 0) + 1);
      for (const [slot, n] of perSlot) if (n !== 1) found.push(`slot ${slot} has ${n} tasks desired running`);
      if (perSlot.size !== o.replicas) found.push(`${perSlot.size} slots desired running, not ${o.replicas}`);
      const now = (await containers()).filter((c) => c.state === 'running');
      for (const c of before) {
        if (c.taskId === killed.id) continue;
        if (now.some((n) => n.id === c.id)) continue;
        const x = tasks.find((y) => y.id === c.taskId);
        const why = x ? `task ${x.status.state}, desired ${x.desiredState}: ${x.status.message}${x.status.err ? ` (${x.status.err})` : ''}` : 'task gone';
        found.push(`container ${c.name} no longer runs (${why})`);
      }
      if (now.length !== o.replicas) found.push(`${now.length} containers running, not ${o.replicas}`);
      return found;
    };

    const referenceS: number[] = [];
    for (let r = 1; r <= o.reference; r++) {
      const via = first.client;
      const { task, t0, before, struck } = await strike(via);
      await Promise.all([struck, replaced(() => via, task)]);
      const sinceKill = performance.now() - t0;
      referenceS.push(secs(sinceKill));
      const issues = await settle(via, task, before);
      problems.push(...issues.map((p) => `reference ${r}: ${p}`));
      log(`reference ${r}: container of slot ${task.slot} killed, no leader change → replacement running after ${secs(sinceKill)} s${issues.length ? `; ${issues.join('; ')}` : ''}`);
    }

    const leaderS: number[] = [];
    const writeS: number[] = [];
    const replacementS: number[] = [];
    const rejoinS: number[] = [];
    for (let r = 1; r <= o.rounds; r++) {
      const old = await leaderOf(live()[0]!.client);
      if (!old) throw new Error('no leader before the round');
      const survivors = managers.filter((m) => m !== old && m.alive);
      const w0 = performance.now();
      await survivors[0]!.client.updateNode(nodeId, { labelsAdd: { 'hab.round': `${r}-before` } });
      const writeBefore = performance.now() - w0;
      const { task, t0, before, struck } = await strike(survivors[0]!.client, old);
      let cur = 0;
      const ask = (): FlotillaClient => survivors[cur++ % survivors.length]!.client;
      const since = (): number => performance.now() - t0;
      const refusals = new Map<string, number>();
      const [, a, b, c] = await Promise.all([
        struck,
        waitFor(
          async () => {
            try {
              const l = await leaderOf(ask());
              return l !== undefined && l !== old;
            } catch {
              return false;
            }
          },
          60_000,
          'a new leader',
          25,
        ).then(since),
        waitFor(
          async () => {
            try {
              await survivors[0]!.client.updateNode(nodeId, { labelsAdd: { 'hab.round': String(r) } });
              return true;
            } catch (err) {
              const what = String((err as Error).message).slice(0, 160);
              refusals.set(what, (refusals.get(what) ?? 0) + 1);
              return false;
            }
          },
          60_000,
          `a write through ${survivors[0]!.name}`,
          25,
        ).then(since),
        replaced(ask, task).then(since),
      ]);
      const next = await leaderOf(survivors[0]!.client);
      leaderS.push(secs(a));
      writeS.push(secs(b));
      replacementS.push(secs(c));
      const issues = await settle(survivors[0]!.client, task, before);
      problems.push(...issues.map((p) => `round ${r}: ${p}`));
      log(
        `round ${r}: SIGKILL leader ${old.name} + container of slot ${task.slot} → new leader ${next?.name ?? '?'} after ${secs(a)} s, ` +
          `write through ${survivors[0]!.name} after ${secs(b)} s (${Math.round(writeBefore)} ms before the kill), replacement running after ${secs(c)} s${issues.length ? `; ${issues.join('; ')}` : ''}`,
      );
      for (const [what, n] of refusals) log(`  write refused ${n}x before it succeeded: ${what}`);
      const restarted = performance.now();
      await old.start();
      await waitFor(async () => (await old.client.listManagers()).managers.length === o.managers, 30_000, `${old.name} back among the managers`, 50);
      const rejoined = performance.now() - restarted;
      rejoinS.push(secs(rejoined));
      const lead = await leaderOf(old.client);
      log(`  ${old.name} restarted: a member again after ${secs(rejoined)} s, ${lead === old ? 'LEADING (expected a follower)' : `follower of ${lead?.name ?? '?'}`}`);
      if (lead === old) problems.push(`round ${r}: the restarted ${old.name} leads`);
    }

    for (const p of problems) log(`problem: ${p}`);
    if (problems.length > 0) log(`logs of the processes: ${saveLogs(managers, worker)}`);
    log(
      JSON.stringify({
        managers: o.managers,
        etcdMembers: 3,
        replicas: o.replicas,
        restartDelay: o.restartDelay ?? 'default',
        rounds: o.rounds,
        referenceReplacementSeconds: referenceS,
        newLeaderSeconds: leaderS,
        writeSeconds: writeS,
        replacementSeconds: replacementS,
        rejoinSeconds: rejoinS,
        medians: {
          referenceReplacement: median(referenceS),
          newLeader: median(leaderS),
          write: median(writeS),
          replacement: median(replacementS),
          rejoin: median(rejoinS),
        },
        problems: problems.length,
      }),
    );
    if (problems.length > 0) process.exitCode = 1;
  } finally {
    await teardown(managers, worker, etcd, dir);
  }
}

/** Writes each process's output to a directory of its own (kept), for a round that went wrong. */
function saveLogs(managers: readonly ManagerProc[], worker: CliProcess | undefined): string {
  const out = mkdtempSync(join(tmpdir(), 'hab-logs-'));
  for (const m of managers) writeFileSync(join(out, `${m.name}.log`), `${m.log}${m.cli?.err ?? ''}`);
  if (worker) writeFileSync(join(out, 'worker.log'), worker.err);
  return out;
}

/** Removes the service and its containers, stops every process, removes the data. */
async function teardown(managers: readonly ManagerProc[], worker: CliProcess | undefined, etcd: EtcdTestCluster | undefined, dir: string): Promise<void> {
  const via = managers.find((m) => m.alive);
  if (via) {
    try {
      await via.client.removeService(SERVICE);
      await waitFor(async () => (await containers()).every((c) => c.state !== 'running'), 30_000, `no running container of ${SERVICE}`);
    } catch (err) {
      if (!/not.found/i.test(String(err))) log(`teardown: ${String(err)}`);
    }
  }
  await stopCli(worker, 10_000);
  await Promise.all(managers.map((m) => stopCli(m.cli, 10_000)));
  const left = await containers().catch(() => []);
  if (left.length > 0) await exec('docker', ['rm', '-f', ...left.map((c) => c.id)]).catch((err: unknown) => log(`teardown: docker rm: ${String(err)}`));
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
}
