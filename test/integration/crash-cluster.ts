import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlotillaClient } from '../../src/client/client.ts';
import type { Node } from '../../src/api/node.ts';
import { freePorts } from '../../src/testing/free-port.ts';
import type { Prng } from '../../src/testing/prng.ts';
import { FLOTILLA_BIN } from './cli-process.ts';
import { DevCluster, removeNodeLeftovers, runCli, waitUntil, type CliResult } from './dev-cluster.ts';

/**
 * What the crash-consistency test (crash-consistency.test.ts) kills and restarts, behind one
 * interface: `flotilla dev` (manager and agent in one process group, killed together), or
 * `flotilla server --no-agent` managers with a separate `flotilla join` agent, where only a
 * manager is killed and the agent keeps running through every kill.
 */
export interface CrashTarget {
  /** The typed client the workload writes and reads through (a new one after each round's `prepare`). */
  readonly client: FlotillaClient;
  /** Runs `flotilla ARGS…` against the cluster (its CLI context). */
  cli(...args: string[]): Promise<CliResult>;
  /** Before a round: picks what the round's kill takes down and where the workload goes (seeded). */
  prepare(rng: Prng): Promise<string>;
  /** SIGKILLs what `prepare` chose; resolves once it exited. */
  kill(): Promise<void>;
  /** Starts again what `kill` killed and waits until it answers. */
  restart(): Promise<void>;
  /**
   * After a kill at `killedAt` (epoch ms) and the restart: what is still wrong with the agents
   * (the test waits for none; always none for dev, whose agent died with the manager).
   */
  agentProblems(nodes: readonly Node[], killedAt: number): string[];
  /** The end of the killed processes' output, for a failure message. */
  log(): string;
  /** Where the data is, for a failure message. */
  readonly home: string;
  /**
   * How long a read may lag a write acknowledged just before (0: reads and writes go to one
   * manager; several managers: the one answering a read may not have seen another's write yet).
   */
  readonly readLagMs: number;
  /** Stops everything, removes the node's containers, networks and the data. */
  destroy(): Promise<void>;
}

/** Starts `flotilla dev` (Docker driver, no dashboard, no metrics port) in its own process group. */
export async function devTarget(storeArgs: string[]): Promise<CrashTarget> {
  const c = await DevCluster.start(['--driver', 'docker', '--dashboard-addr', 'off', '--metrics-addr', 'off', ...storeArgs], { prefix: 'flotilla-crash-', processGroup: true });
  // The dev process leads a process group of its own, so it would outlive this one: if this
  // process ends before the cleanup (an uncaught error, the runner's timeout), kill it.
  const orphan = (): void => killGroup(c.pid);
  process.once('exit', orphan);
  const client = new FlotillaClient({ socketPath: join(c.home, 'flotilla.sock') });
  return {
    client,
    home: c.home,
    readLagMs: 0,
    cli: (...args) => c.cli(...args),
    prepare: () => Promise.resolve('flotilla dev (manager and agent)'),
    kill: () => c.kill(),
    restart: () => c.startProcess(),
    agentProblems: () => [],
    log: () => c.log.slice(-6_000),
    destroy: async () => {
      process.off('exit', orphan);
      await c.destroy();
    },
  };
}

/** A `flotilla server` or `flotilla join` process, in a process group of its own. */
class Proc {
  readonly name: string;
  /** Its command line after `flotilla` (the same at every start). */
  readonly args: string[];
  readonly #env: NodeJS.ProcessEnv;
  #proc: ChildProcess | undefined;
  #log = '';
  /** Every pid it ran as: the agent's must stay one. */
  readonly pids: number[] = [];

  constructor(name: string, args: string[], env: NodeJS.ProcessEnv) {
    this.name = name;
    this.args = args;
    this.#env = env;
  }

  start(): void {
    const proc = spawn(process.execPath, [FLOTILLA_BIN, ...this.args], { env: this.#env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.#proc = proc;
    if (proc.pid !== undefined) this.pids.push(proc.pid);
    const append = (d: Buffer): void => {
      this.#log += d.toString();
      if (this.#log.length > 200_000) this.#log = this.#log.slice(-100_000);
    };
    proc.stdout?.on('data', append);
    proc.stderr?.on('data', append);
    // FLOTILLA_CRASH_LOGS=DIR keeps every process's whole output (a run that passed, too).
    const keep = process.env['FLOTILLA_CRASH_LOGS'];
    if (keep) {
      const file = createWriteStream(join(keep, `${this.name.replace(/\W+/g, '-')}-${proc.pid ?? 'x'}.log`));
      proc.stdout?.pipe(file, { end: false });
      proc.stderr?.pipe(file, { end: false });
    }
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get exited(): string | undefined {
    const p = this.#proc;
    if (!p) return 'not started';
    if (p.exitCode !== null || p.signalCode !== null) return `exited with ${p.exitCode ?? p.signalCode}`;
    return undefined;
  }

  get log(): string {
    return this.#log;
  }

  /** SIGKILL to its process group; resolves once it exited. */
  async kill(): Promise<void> {
    const p = this.#proc;
    if (!p || this.exited !== undefined) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    killGroup(p.pid);
    await exited;
  }

  /** SIGTERM (tasks keep running), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p || this.exited !== undefined) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    const t = setTimeout(() => killGroup(p.pid), 30_000);
    await exited;
    clearTimeout(t);
  }
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

interface ManagerProc {
  readonly proc: Proc;
  readonly dataDir: string;
  /** `host:port` of its HTTPS listener (what `GET /v1/managers` names it by). */
  readonly addr: string;
}

/**
 * Production HA in one host: `managers` (1 or 2) `flotilla server --no-agent` on 127.0.0.1,
 * the second joined to the first's store with `--join-token` (`flotilla token manager -q`), and
 * one agent, `flotilla join` with the worker token, on the machine's Docker engine. The CLI
 * and the typed client reach the managers over HTTPS with the admin credential, through a
 * context that lists every manager. A kill takes down the leader only.
 */
export class ServerCrashCluster implements CrashTarget {
  readonly home: string;
  readonly readLagMs: number;
  readonly #managers: ManagerProc[];
  #agent: Proc | undefined;
  #client: FlotillaClient;
  #ctx: { ca: string; cert: string; key: string } | undefined;
  #victim: ManagerProc | undefined;
  #nodeId: string | undefined;
  readonly #cliEnv: NodeJS.ProcessEnv;

  private constructor(home: string, managers: ManagerProc[]) {
    this.home = home;
    this.#managers = managers;
    this.readLagMs = managers.length > 1 ? 15_000 : 0;
    this.#client = new FlotillaClient({ socketPath: join(managers[0]!.dataDir, 'flotilla.sock') });
    this.#cliEnv = { ...process.env, FLOTILLA_HOME: join(home, 'cli'), FLOTILLA_LOG_LEVEL: 'warn' };
    delete this.#cliEnv['FLOTILLA_HOST'];
    delete this.#cliEnv['FLOTILLA_CONTEXT'];
  }

  /** Starts the managers (`storeArgs` the same for each: `--store etcd://…`, or none for SQLite) and the agent. */
  static async start(storeArgs: string[], managers: 1 | 2): Promise<ServerCrashCluster> {
    const home = await mkdtemp(join(tmpdir(), 'flotilla-crash-ha-'));
    const ports = await freePorts(managers);
    const env: NodeJS.ProcessEnv = { ...process.env, FLOTILLA_LOG_LEVEL: process.env['FLOTILLA_LOG_LEVEL'] ?? 'info' };
    delete env['FLOTILLA_HOST'];
    delete env['FLOTILLA_CONTEXT'];
    const procs = ports.map((port, i): ManagerProc => {
      const dataDir = join(home, `m${i + 1}`);
      const args = ['server', '--no-agent', '--listen-addr', `127.0.0.1:${port}`, '--advertise-addr', '127.0.0.1', '--data-dir', dataDir, '--metrics-addr', 'off', ...storeArgs];
      return { proc: new Proc(`manager m${i + 1}`, args, { ...env, FLOTILLA_HOME: dataDir }), dataDir, addr: `127.0.0.1:${port}` };
    });
    const c = new ServerCrashCluster(home, procs);
    process.once('exit', c.#orphans);
    const first = procs[0]!;
    first.proc.start();
    await c.#answers(first);
    await mkdir(join(home, 'cli'), { recursive: true, mode: 0o700 });
    c.#ctx = JSON.parse(await readFile(join(first.dataDir, 'admin', 'context.json'), 'utf8')) as { ca: string; cert: string; key: string };
    await c.#answers(first); // over HTTPS too, now that the credential is known
    await c.#useManager(first);
    const second = procs[1];
    if (second) {
      const token = await c.#must('token', 'manager', '-q');
      // The same command line for its restarts: its data dir then has the key, the token is not read.
      second.proc.args.push('--join-token', token.trim());
      second.proc.start();
      await c.#answers(second);
    }
    const worker = (await c.#must('token', 'worker', '-q')).trim();
    const nodeDir = join(home, 'node');
    c.#agent = new Proc('agent', ['join', '--token', worker, '--data-dir', nodeDir, '--driver', 'docker', '--metrics-addr', 'off', first.addr], { ...env, FLOTILLA_HOME: nodeDir });
    c.#agent.start();
    await waitUntil(
      async () => {
        if (c.#agent?.exited) throw new Error(`flotilla join ${c.#agent.exited}:\n${c.#agent.log}`);
        const id = existsSync(join(nodeDir, 'node-id')) ? (await readFile(join(nodeDir, 'node-id'), 'utf8')).trim() : '';
        if (id === '') return false;
        c.#nodeId = id;
        const nodes = await c.#client.listNodes().catch(() => []);
        return nodes.some((n) => n.id === id && n.status.state === 'ready');
      },
      120_000,
      'the agent to join and be ready',
    );
    return c;
  }

  get client(): FlotillaClient {
    return this.#client;
  }

  cli(...args: string[]): Promise<CliResult> {
    return runCli(args, this.#cliEnv);
  }

  /**
   * The round's victim is the leader (the only manager, or the one `GET /v1/managers` names);
   * the workload prefers, at random, the leader (its requests are cut, the CLI and the client
   * fail over) or the other manager (its requests go on through the kill).
   */
  async prepare(rng: Prng): Promise<string> {
    let leader = this.#managers[0]!;
    if (this.#managers.length > 1) {
      await waitUntil(
        async () => {
          const { managers } = await this.#client.listManagers();
          const found = this.#managers.find((m) => m.addr === managers.find((x) => x.leader)?.addr);
          if (found) leader = found;
          return found !== undefined;
        },
        60_000,
        'a leader among the managers',
      );
    }
    this.#victim = leader;
    const others = this.#managers.filter((m) => m !== leader);
    const preferred = others.length > 0 && rng.chance(0.5) ? rng.pick(others) : leader;
    await this.#useManager(preferred);
    return `${leader.proc.name} (the leader) at ${leader.addr}; the workload goes to ${preferred.proc.name}${preferred === leader ? '' : ' (a follower)'}`;
  }

  async kill(): Promise<void> {
    await this.#victim?.proc.kill();
  }

  async restart(): Promise<void> {
    const m = this.#victim;
    if (!m) return;
    m.proc.start();
    await this.#answers(m);
  }

  agentProblems(nodes: readonly Node[], killedAt: number): string[] {
    const agent = this.#agent;
    if (!agent) return ['no agent'];
    const problems: string[] = [];
    if (agent.exited !== undefined) problems.push(`the agent process ${agent.exited}`);
    if (agent.pids.length !== 1) problems.push(`the agent ran as ${agent.pids.length} processes`);
    const node = nodes.find((n) => n.id === this.#nodeId);
    if (!node) return [...problems, `node ${String(this.#nodeId)} is gone`];
    if (node.status.state !== 'ready') problems.push(`node ${node.id} is ${node.status.state}`);
    // A session's registration writes `heartbeatAt`: a later one proves the agent reconnected.
    const heard = Date.parse(node.status.heartbeatAt ?? '');
    if (!(heard >= killedAt)) problems.push(`node ${node.id}: last heartbeat written at ${String(node.status.heartbeatAt)}, before the kill (${new Date(killedAt).toISOString()}): the agent did not reconnect`);
    return problems;
  }

  log(): string {
    const parts = this.#managers.map((m) => `--- ${m.proc.name} (end):\n${m.proc.log.slice(-4_000)}`);
    if (this.#agent) parts.push(`--- agent (end):\n${this.#agent.log.slice(-4_000)}`);
    return parts.join('\n');
  }

  async destroy(): Promise<void> {
    await this.#agent?.stop();
    for (const m of this.#managers) await m.proc.stop();
    process.off('exit', this.#orphans);
    if (this.#nodeId !== undefined) await removeNodeLeftovers(this.#nodeId);
    await rm(this.home, { recursive: true, force: true });
  }

  /** SIGKILL every process of this cluster when the test process ends before `destroy`. */
  readonly #orphans = (): void => {
    for (const m of this.#managers) killGroup(m.proc.pid);
    killGroup(this.#agent?.pid);
  };

  /**
   * Waits until `m` answers on its local socket and, once the admin credential is known, on its
   * HTTPS listener (opened a moment after the socket) too.
   */
  async #answers(m: ManagerProc): Promise<void> {
    const ctx = this.#ctx;
    const clients = [new FlotillaClient({ socketPath: join(m.dataDir, 'flotilla.sock') })];
    if (ctx) clients.push(new FlotillaClient({ url: `https://${m.addr}`, tls: { ca: ctx.ca, cert: ctx.cert, key: ctx.key } }));
    await waitUntil(
      async () => {
        if (m.proc.exited !== undefined) throw new Error(`${m.proc.name} ${m.proc.exited}:\n${m.proc.log}`);
        if (!existsSync(join(m.dataDir, 'flotilla.sock'))) return false;
        const answers = await Promise.all(
          clients.map((c) =>
            c.info().then(
              () => true,
              () => false,
            ),
          ),
        );
        return answers.every(Boolean);
      },
      120_000,
      `${m.proc.name} to answer`,
    );
  }

  /** The CLI's context and the client: every manager, `first` tried first. */
  async #useManager(first: ManagerProc): Promise<void> {
    const ctx = this.#ctx!;
    const hosts = [first, ...this.#managers.filter((m) => m !== first)].map((m) => `https://${m.addr}`);
    const context = { host: hosts[0]!, hosts, ca: ctx.ca, cert: ctx.cert, key: ctx.key };
    await writeFile(join(this.home, 'cli', 'contexts.json'), JSON.stringify({ current: 'crash', contexts: { crash: context } }), { mode: 0o600 });
    this.#client = new FlotillaClient({ url: hosts[0]!, alternates: hosts.slice(1), tls: { ca: ctx.ca, cert: ctx.cert, key: ctx.key } });
  }

  async #must(...args: string[]): Promise<string> {
    const r = await this.cli(...args);
    if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }
}
