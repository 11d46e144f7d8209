import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FLOTILLA_BIN } from './cli-process.ts';

const run = promisify(execFile);

/** Result of one CLI invocation. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface DevClusterOptions {
  /** The data dir's name starts with it, in the temporary directory. Default `flotilla-it-`. */
  readonly prefix?: string;
  /** Start dev as the leader of a process group of its own, so `kill()` reaches its children. */
  readonly processGroup?: boolean;
}

/**
 * A real `flotilla dev` process in a temporary data directory, driven through the real CLI,
 * for integration tests. Each instance has its own state and API socket.
 */
export class DevCluster {
  readonly home: string;
  #proc: ChildProcess | undefined;
  #log = '';
  readonly #extraArgs: string[];

  readonly #processGroup: boolean;

  private constructor(home: string, extraArgs: string[], processGroup: boolean) {
    this.home = home;
    this.#extraArgs = extraArgs;
    this.#processGroup = processGroup;
  }

  static async start(extraArgs: string[] = [], options: DevClusterOptions = {}): Promise<DevCluster> {
    const home = await mkdtemp(join(tmpdir(), options.prefix ?? 'flotilla-it-'));
    const c = new DevCluster(home, extraArgs, options.processGroup === true);
    await c.startProcess();
    return c;
  }

  get env(): NodeJS.ProcessEnv {
    return { ...process.env, FLOTILLA_HOME: this.home, FLOTILLA_LOG_LEVEL: process.env['FLOTILLA_LOG_LEVEL'] ?? 'info' };
  }

  /** The dev process's id, while it runs. */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** The dev process's output so far, for failure messages. */
  get log(): string {
    return this.#log;
  }

  async startProcess(): Promise<void> {
    const proc = spawn(process.execPath, [FLOTILLA_BIN, 'dev', ...this.#extraArgs], { env: this.env, stdio: ['ignore', 'pipe', 'pipe'], detached: this.#processGroup });
    this.#proc = proc;
    const append = (d: Buffer): void => {
      this.#log += d.toString();
      if (this.#log.length > 200_000) this.#log = this.#log.slice(-100_000);
    };
    proc.stdout?.on('data', append);
    proc.stderr?.on('data', append);
    await waitUntil(async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`flotilla dev exited with ${proc.exitCode ?? proc.signalCode}:\n${this.#log}`);
      if (!existsSync(join(this.home, 'flotilla.sock'))) return false;
      const r = await this.cli('node', 'ls', '--format', 'json');
      if (r.code !== 0) return false;
      const nodes = JSON.parse(r.stdout) as Array<{ id: string }>;
      for (const n of nodes) this.#nodeIds.add(n.id);
      return nodes.length > 0;
    }, 120_000, 'flotilla dev to answer with its node registered');
  }

  /** Stops the dev process with SIGTERM and waits for it to exit. */
  async stopProcess(): Promise<number | null> {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    const code = await exited;
    clearTimeout(timer);
    return code;
  }

  /**
   * Kills the dev process with SIGKILL, as a crash: its whole process group when started with
   * `processGroup` (the `ip`/`iptables` commands it runs die with it). Waits for it to exit.
   */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    if (this.#processGroup && proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
    else proc.kill('SIGKILL');
    await exited;
  }

  /** Runs `flotilla ARGS…` against this cluster. */
  cli(...args: string[]): Promise<CliResult> {
    return runCli(args, this.env);
  }

  /** Runs a CLI command that must succeed and parses its `--format json` output. */
  async json<T>(...args: string[]): Promise<T> {
    const r = await this.cli(...args, '--format', 'json');
    if (r.code !== 0) throw new Error(`flotilla ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /**
   * Stops the process, removes every container this cluster's node ran and the Docker networks
   * its data plane made, deletes the data dir. (Its iptables chains stay until the next
   * cluster's agent rewrites them.)
   */
  async destroy(): Promise<void> {
    await this.stopProcess();
    for (const nodeId of this.#nodeIds) await removeNodeLeftovers(nodeId);
    await rm(this.home, { recursive: true, force: true });
  }

  #nodeIds = new Set<string>();
}

/** Runs `flotilla ARGS…` with `env` (its FLOTILLA_HOME or context names the cluster). */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [FLOTILLA_BIN, ...args], { env, timeout: 600_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/**
 * Removes every container node `nodeId` ran and the Docker networks its data plane made, and
 * unmounts its task files. (Its iptables chains stay until the next agent rewrites them.)
 */
export async function removeNodeLeftovers(nodeId: string): Promise<void> {
  const ids = (await docker('ps', '-aq', '--filter', `label=flotilla.node.id=${nodeId}`)).trim();
  if (ids) await docker('rm', '-f', ...ids.split(/\s+/));
  const networks = (await docker('network', 'ls', '-q', '--filter', `label=flotilla.node.id=${nodeId}`)).trim();
  if (networks) await docker('network', 'rm', ...networks.split(/\s+/)).catch(() => undefined);
  await unmountTaskFiles(nodeId);
}

/**
 * Unmounts the per-task secret tmpfs mounts the node's agent made under /run/flotilla/<node>/
 * (left behind when a test removes containers behind the agent's back) and removes the folder.
 */
async function unmountTaskFiles(nodeId: string): Promise<void> {
  const root = `/run/flotilla/${nodeId}/`;
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  for (const line of mounts.split('\n')) {
    const target = line.split(' ')[1];
    if (target?.startsWith(root)) await run('umount', [target]).catch(() => undefined);
  }
  await rm(root, { recursive: true, force: true });
}

export interface TaskJson {
  id: string;
  serviceId: string;
  slot?: number;
  nodeId?: string;
  desiredState: string;
  specVersion: number;
  status: { state: string; containerId?: string; message: string; err?: string; timestamp: string; pid?: number };
}

/** Runs the docker CLI and returns its standard output. */
export async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: 60_000 });
  return stdout;
}

/** Whether a Docker engine answers. */
export async function dockerAvailable(): Promise<boolean> {
  try {
    await docker('version', '--format', '{{.Server.Version}}');
    return true;
  } catch {
    return false;
  }
}

/**
 * Re-checks `condition` until it returns true or the deadline passes (then throws, naming
 * what was awaited). A condition that throws fails at once.
 */
export async function waitUntil(condition: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The skip reason for Docker tests: none when an engine answers or Docker is required. */
export async function dockerSkipReason(): Promise<string | undefined> {
  if (await dockerAvailable()) return undefined;
  if (process.env['FLOTILLA_REQUIRE_DOCKER'] === '1') throw new Error('FLOTILLA_REQUIRE_DOCKER=1 but no Docker engine answers');
  return 'no Docker engine answers (set FLOTILLA_REQUIRE_DOCKER=1 to make this a failure)';
}
