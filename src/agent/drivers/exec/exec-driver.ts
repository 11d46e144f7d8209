import { constants } from 'node:fs';
import { access, readdir, stat } from 'node:fs/promises';
import { release } from 'node:os';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import type { TaskAddress } from '../../../api/network.ts';
import { isoTime, type Clock } from '../../../lib/clock.ts';
import {
  DriverError,
  type Driver,
  type DriverTask,
  type ExecInOptions,
  type ExecInResult,
  type ExitResult,
  type Fingerprint,
  type HandleState,
  type Inspection,
  type LogLine,
  type LogOptions,
  type StartResult,
  type StopOptions,
} from '../driver.ts';
import { hostRunner, type CommandRunner } from '../../network/runner.ts';
import { taskLabels } from '../labels.ts';
import { normalizeSignal } from '../signals.ts';
import { execInTask } from './exec-in.ts';
import { readLogFiles } from './log-files.ts';
import {
  createTaskNet,
  enterPrefix,
  findNetnsTools,
  NetnsError,
  planTaskNet,
  primaryLink,
  readTaskAddresses,
  removeTaskNet,
  repinTaskNet,
  type NetnsTools,
  type TaskNet,
} from './netns.ts';
import { isAlive } from './proc.ts';
import { spawnSupervised } from './supervisor.ts';
import { isSafeTaskId, TaskDir, type ExecRunRecord, type ExecTaskRecord } from './task-dir.ts';
import { unsupportedFields } from './unsupported.ts';
import { resolveUserOnHost } from './users.ts';

/** How often a stop signal is sent again while the task has not exited. */
const RESIGNAL_MS = 1_000;

/** Options of `ExecDriver`. */
export interface ExecDriverOptions {
  /** The node this driver runs on; `recover()` returns only this node's tasks. */
  readonly nodeId: string;
  /** The agent's state directory; tasks live in `<dataDir>/exec/<taskId>/`. */
  readonly dataDir: string;
  readonly clock: Clock;
  /** How often `wait` and `logs --follow` look for news. Default 200 ms. */
  readonly pollMs?: number;
  /** Where `passwd` and `group` are read from to resolve `user`. Default `/etc`. */
  readonly etcDir?: string;
  /**
   * The network namespace the host ends of a networked task's veths go in (where the
   * networks' bridges are): runs `ip`, `unshare`, `umount`. Default: the agent's own.
   */
  readonly netRunner?: CommandRunner;
}

/** The PATH a task gets unless its env sets one. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** How long to wait for a SIGKILLed process group to be gone before giving up. */
const KILL_WAIT_MS = 10_000;

interface Status {
  readonly dir: TaskDir;
  readonly rec: ExecTaskRecord;
  readonly run: ExecRunRecord | undefined;
  readonly state: HandleState;
  readonly exit: ExitResult | undefined;
}

/**
 * Runs a task as a plain host process (`command` + `args`, env, workdir, user), in its own
 * session and process group, under a small `sh` supervisor that records its exit status
 * (see `supervisor.ts`). All state is on disk, so a new instance (an agent restart) adopts
 * running processes and still learns their exit codes. Linux only (uses /proc).
 */
export class ExecDriver implements Driver {
  readonly name = 'exec';
  readonly #nodeId: string;
  readonly #root: string;
  readonly #clock: Clock;
  readonly #pollMs: number;
  readonly #etcDir: string;
  readonly #net: CommandRunner;
  /** The tools for tasks on networks, or why there are none; looked up once. */
  #tools: Promise<NetnsTools | string> | undefined;
  /** Starts under way, so concurrent `start` calls spawn one process. */
  readonly #starting = new Map<string, Promise<StartResult>>();

  constructor(options: ExecDriverOptions) {
    this.#nodeId = options.nodeId;
    this.#root = join(options.dataDir, 'exec');
    this.#clock = options.clock;
    this.#pollMs = options.pollMs ?? 200;
    this.#etcDir = options.etcDir ?? '/etc';
    this.#net = options.netRunner ?? hostRunner();
  }

  async fingerprint(): Promise<Fingerprint> {
    if (process.platform !== 'linux') return { available: false, reason: `exec driver needs Linux, this is ${process.platform}` };
    try {
      await access('/bin/sh', constants.X_OK);
      await access('/proc/self/stat', constants.R_OK);
    } catch (e) {
      return { available: false, reason: `exec driver needs /bin/sh and /proc: ${(e as Error).message}` };
    }
    return { available: true, engine: { name: 'exec', version: release() } };
  }

  async prepare(task: DriverTask): Promise<void> {
    if (!isSafeTaskId(task.id)) throw new DriverError('invalid_spec', `task id "${task.id}" cannot name a directory`);
    const dir = new TaskDir(this.#root, task.id);
    if (await dir.readTask()) return;
    // A namespace pinned by a prepare that did not finish (no task.json): unpin it, start over.
    await this.#sweepHalfPrepared(dir);
    const c = task.spec.container;
    const argv = [...(c.command ?? []), ...(c.args ?? [])];
    const program = argv[0];
    if (program === undefined || program === '') {
      throw new DriverError('invalid_spec', 'the exec driver needs container.command: the program to run and its arguments');
    }
    normalizeSignal(c.stopSignal);
    const networks = task.networks ?? [];
    // A task in its own namespace publishes no host-mode port (that needs a DNAT rule the data plane does not make).
    const hostPorts = networks.length === 0 ? [] : task.ports.filter((p) => p.mode === 'host');
    const unsupported = [
      ...unsupportedFields(c),
      ...(hostPorts.length > 0 ? [`publish host-mode ports from a task on networks (${hostPorts.map((p) => `${p.published}/${p.protocol}`).join(', ')}; ingress mode works)`] : []),
    ];
    if (unsupported.length > 0) {
      throw new DriverError('invalid_spec', `the exec driver cannot ${unsupported.join('; ')}: use the docker driver`);
    }
    const user = c.user === undefined || c.user === '' ? undefined : await resolveUserOnHost(c.user, this.#etcDir);
    const env: Record<string, string> = { PATH: DEFAULT_PATH, ...(user?.home === undefined ? {} : { HOME: user.home }) };
    for (const entry of c.env) {
      const eq = entry.indexOf('=');
      if (eq <= 0) throw new DriverError('invalid_spec', `env entry "${entry}": expected KEY=VALUE`);
      env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    // Secrets and configs stay on the agent's per-task tmpfs; the process finds them by name here.
    if (task.secretsDir !== undefined) env['FLOTILLA_SECRETS_DIR'] = task.secretsDir;
    if (task.configsDir !== undefined) env['FLOTILLA_CONFIGS_DIR'] = task.configsDir;
    const cwd = c.workdir === undefined || c.workdir === '' ? '/' : c.workdir;
    if (!isAbsolute(cwd) || !(await isDirectory(cwd))) {
      throw new DriverError('invalid_spec', `workdir "${cwd}": no such directory (an absolute path is needed)`);
    }
    const resolved = await findProgram(program, env['PATH'] ?? '', cwd);
    if (resolved === undefined) {
      throw new DriverError(
        'invalid_spec',
        program.includes('/')
          ? `exec: "${program}": no such executable file`
          : `exec: "${program}": executable file not found in $PATH (${env['PATH'] ?? ''})`,
      );
    }
    let net: TaskNet | undefined;
    if (networks.length > 0) {
      const tools = await this.#netTools();
      if (typeof tools === 'string') throw new DriverError('invalid_spec', `the exec driver cannot join networks on this node: ${tools}`);
      await dir.make();
      net = planTaskNet(task.id, dir.netnsPath, networks, task.resolvConf);
      try {
        await createTaskNet(this.#net, tools, net, networks);
      } catch (err) {
        await dir.remove().catch(() => {});
        if (err instanceof NetnsError) throw new DriverError('internal', `exec task ${task.id}: ${err.message}`, { cause: err });
        throw err;
      }
    }
    await dir.create({
      version: 1,
      taskId: task.id,
      nodeId: task.nodeId,
      labels: taskLabels(task),
      argv: [resolved, ...argv.slice(1)],
      env,
      cwd,
      ...(user === undefined ? {} : { uid: user.uid, gid: user.gid }),
      ...(net === undefined ? {} : { net }),
      createdAt: isoTime(this.#clock),
    });
  }

  start(taskId: string): Promise<StartResult> {
    const pending = this.#starting.get(taskId);
    if (pending) return pending;
    const p = this.#start(taskId).finally(() => this.#starting.delete(taskId));
    this.#starting.set(taskId, p);
    return p;
  }

  async #start(taskId: string): Promise<StartResult> {
    const st = await this.#status(taskId);
    if (!st) throw notFound(taskId);
    if (st.run) return { pid: st.run.pid };
    const { pid, startTime } = await spawnSupervised(st.dir, st.rec, await this.#prefix(st.rec));
    await st.dir.writeRun({ pid, startTime, startedAt: isoTime(this.#clock) });
    return { pid };
  }

  async wait(taskId: string, signal?: AbortSignal): Promise<ExitResult> {
    for (;;) {
      const st = await this.#status(taskId);
      if (!st) throw notFound(taskId);
      if (st.exit) return st.exit;
      await this.#clock.sleep(this.#pollMs, signal);
    }
  }

  async stop(taskId: string, options: StopOptions): Promise<void> {
    const sig = normalizeSignal(options.signal);
    const st = await this.#status(taskId);
    if (!st?.run || st.state !== 'running') return;
    const { pid } = st.run;
    if (sig !== 'SIGKILL') {
      signalGroup(pid, sig);
      let signalled = this.#clock.now();
      const deadline = signalled + options.gracePeriodMs;
      for (;;) {
        if ((await this.#status(taskId))?.state !== 'running') return;
        const left = deadline - this.#clock.now();
        if (left <= 0) break;
        // A stop right after start can reach the group after the supervisor set its traps
        // but before it forked the program: the supervisor swallows it and the program never
        // sees it. Signalling again once a second closes that window.
        if (this.#clock.now() - signalled >= RESIGNAL_MS) {
          signalGroup(pid, sig);
          signalled = this.#clock.now();
        }
        await this.#clock.sleep(Math.min(left, 50));
      }
    }
    await this.#kill(st.dir, st.run, sig === 'SIGKILL' ? 'killed by SIGKILL' : `killed by SIGKILL after the ${options.gracePeriodMs}ms grace period`);
  }

  async remove(taskId: string): Promise<void> {
    if (!isSafeTaskId(taskId)) return;
    const st = await this.#status(taskId);
    if (!st) {
      const dir = new TaskDir(this.#root, taskId);
      await this.#sweepHalfPrepared(dir);
      return;
    }
    if (st.run && st.state === 'running') await this.#kill(st.dir, st.run, 'removed');
    if (st.rec.net) {
      const tools = await this.#netTools();
      if (typeof tools === 'string') throw new DriverError('internal', `cannot remove exec task ${taskId}'s network namespace: ${tools}`);
      try {
        await removeTaskNet(this.#net, tools, st.rec.net);
      } catch (err) {
        if (err instanceof NetnsError) throw new DriverError('internal', `exec task ${taskId}: ${err.message}`, { cause: err });
        throw err;
      }
    }
    await st.dir.remove();
  }

  async inspect(taskId: string): Promise<Inspection | undefined> {
    const st = await this.#status(taskId);
    return st && inspection(st);
  }

  async *logs(taskId: string, options: LogOptions, signal?: AbortSignal): AsyncIterable<LogLine> {
    const st = await this.#status(taskId);
    if (!st) throw notFound(taskId);
    const files = [
      { path: st.dir.stdoutPath, stream: 'stdout' as const },
      { path: st.dir.stderrPath, stream: 'stderr' as const },
    ];
    const isDone = async (): Promise<boolean> => {
      const now = await this.#status(taskId);
      return now === undefined || now.state === 'exited';
    };
    yield* readLogFiles(files, options, { clock: this.#clock, pollMs: Math.min(this.#pollMs, 100), isDone }, signal);
  }

  /** Runs `argv` as a host process with the task's env, workdir and user (a health check's `test`). */
  async execIn(taskId: string, argv: readonly string[], options: ExecInOptions): Promise<ExecInResult> {
    const st = await this.#status(taskId);
    if (!st) throw notFound(taskId);
    return execInTask(st.rec, argv, options, this.#clock, await this.#prefix(st.rec));
  }

  async recover(): Promise<Inspection[]> {
    let names: string[];
    try {
      names = await readdir(this.#root);
    } catch {
      return [];
    }
    const found: Inspection[] = [];
    for (const name of names) {
      const st = await this.#status(name);
      if (!st || st.rec.nodeId !== this.#nodeId) continue;
      found.push(inspection(st, await this.#actualAddresses(st)));
    }
    return found;
  }

  /**
   * A running networked task's addresses as its namespace holds them; its pin is restored from
   * its process first when it is gone. Undefined (use the record) when they cannot be read.
   */
  async #actualAddresses(st: Status): Promise<TaskAddress[] | undefined> {
    const net = st.rec.net;
    if (net === undefined || st.run === undefined || st.state !== 'running') return undefined;
    const tools = await this.#netTools();
    if (typeof tools === 'string') return undefined;
    const actual = await readTaskAddresses(this.#net, tools, net);
    if (actual !== undefined || !(await repinTaskNet(this.#net, tools, net, st.run.pid))) return actual;
    return readTaskAddresses(this.#net, tools, net);
  }

  #netTools(): Promise<NetnsTools | string> {
    this.#tools ??= findNetnsTools();
    return this.#tools;
  }

  /** The argv prefix that enters a networked task's namespace; undefined for a task on none. */
  async #prefix(rec: ExecTaskRecord): Promise<string[] | undefined> {
    if (rec.net === undefined) return undefined;
    const tools = await this.#netTools();
    if (typeof tools === 'string') throw new DriverError('start_failed', `exec task ${rec.taskId} is on networks, but ${tools}`);
    return enterPrefix(tools, rec.net, rec);
  }

  /** Unpins the namespace of a prepare that stopped before task.json, and removes its dir. */
  async #sweepHalfPrepared(dir: TaskDir): Promise<void> {
    try {
      await stat(dir.netnsPath);
    } catch {
      return;
    }
    const tools = await this.#netTools();
    if (typeof tools === 'string') return;
    // No process ever ran in it: unpinning it destroys its veths.
    await removeTaskNet(this.#net, tools, { netns: dir.netnsPath, links: [] });
    await dir.remove();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** Reads the task's state from disk and /proc. */
  async #status(taskId: string): Promise<Status | undefined> {
    if (!isSafeTaskId(taskId)) return undefined;
    const dir = new TaskDir(this.#root, taskId);
    const rec = await dir.readTask();
    if (!rec) return undefined;
    const run = await dir.readRun();
    if (!run) return { dir, rec, run, state: 'created', exit: undefined };
    // Liveness first, then the file: a supervisor that is gone wrote its status before it went.
    const alive = await isAlive(run.pid, run.startTime);
    const exit = await dir.readExit();
    if (exit) return { dir, rec, run, state: 'exited', exit };
    if (alive) return { dir, rec, run, state: 'running', exit: undefined };
    return {
      dir, rec, run, state: 'exited',
      exit: { exitCode: 137, reason: 'exit status lost: the supervisor was killed before it could record it' },
    };
  }

  /** SIGKILLs the task's process group, waits for the supervisor to go, records the exit. */
  async #kill(dir: TaskDir, run: ExecRunRecord, reason: string): Promise<void> {
    signalGroup(run.pid, 'SIGKILL');
    const deadline = this.#clock.now() + KILL_WAIT_MS;
    while (await isAlive(run.pid, run.startTime)) {
      if (this.#clock.now() >= deadline) {
        throw new DriverError('internal', `process group ${run.pid} survived SIGKILL for ${KILL_WAIT_MS}ms`);
      }
      await this.#clock.sleep(20);
    }
    await dir.recordExit({ exitCode: 137, reason });
  }
}

/** Sends `sig` to every process in the group; a group already gone is fine. */
function signalGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/**
 * What `inspect`/`recover` say. A task on networks: `networks` as recorded at prepare (or
 * `actual`, read from its namespace), and while it runs `address` = the primary network's IP
 * (the routing mesh's when it is on no other), which health probes and the mesh reach.
 */
function inspection(st: Status, actual?: readonly TaskAddress[]): Inspection {
  const net = st.rec.net;
  const networks = actual ?? net?.links.map((l) => ({ networkId: l.networkId, addr: l.address }));
  const primary = net && (primaryLink(net.links) ?? net.links[0]);
  return {
    taskId: st.rec.taskId,
    state: st.state,
    ...(st.run && st.state === 'running' ? { pid: st.run.pid } : {}),
    ...(st.exit === undefined ? {} : { exitCode: st.exit.exitCode }),
    labels: st.rec.labels,
    ...(primary !== undefined && st.state === 'running' ? { address: primary.ip } : {}),
    ...(networks === undefined ? {} : { networks }),
  };
}

function notFound(taskId: string): DriverError {
  return new DriverError('not_found', `no exec task ${taskId} on this node`);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** `program` as an absolute path: searched in `path` unless it has a slash (then from `cwd`). */
async function findProgram(program: string, path: string, cwd: string): Promise<string | undefined> {
  const candidates = program.includes('/')
    ? [resolve(cwd, program)]
    : path.split(delimiter).filter((d) => d !== '').map((d) => join(d, program));
  for (const c of candidates) {
    try {
      if ((await stat(c)).isFile()) {
        await access(c, constants.X_OK);
        return c;
      }
    } catch {
      // next candidate
    }
  }
  return undefined;
}
