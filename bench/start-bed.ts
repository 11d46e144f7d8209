/**
 * The task-start benchmark's own machine (see bench/start.ts): one network namespace
 * `fltbench-h` with its own Docker engine (own data root, exec root, socket, pid file and
 * cgroup parent; bridge and iptables inside the namespace, so nothing clashes with the shared
 * engine or the multi-host test bed), the test image built into it, and `flotilla dev` in the
 * same namespace with its docker driver pointed at that engine. Built from the multi-host bed's
 * helpers (test/cluster/) under names of its own (`fltbench…`, /tmp/fltbench).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { FlotillaClient } from '../src/client/client.ts';
import { HostEngine } from '../test/cluster/engine.ts';
import { flotillaArgv, flotillaEnv, inHost, REPO_ROOT } from '../test/cluster/flotilla.ts';
import { GroupProcess, run } from '../test/cluster/proc.ts';
import { sweep } from '../test/cluster/sweep.ts';
import { waitFor } from '../test/cluster/wait.ts';

export const BENCH_PREFIX = 'fltbench';
export const BENCH_IMAGE = 'flotilla/busybox:test';

/** One container event of the bench engine: `create` or `start`, at the engine's clock (ms). */
export interface ContainerEvent {
  readonly action: 'create' | 'start';
  readonly id: string;
  readonly atMs: number;
  /** The container's name and labels. */
  readonly attributes: Readonly<Record<string, string>>;
}

/**
 * The bench's engine and Flotilla. `create()` first removes what a crashed run left;
 * `destroy()` removes everything (it is safe to call twice and from a signal handler).
 */
export class StartBed {
  readonly dir = join(tmpdir(), BENCH_PREFIX);
  readonly ns = `${BENCH_PREFIX}-h`;
  readonly engine: HostEngine;
  readonly flotillaDir: string;
  readonly client: FlotillaClient;
  #flotilla: GroupProcess | undefined;
  #swarm = false;
  #events: Readable | undefined;
  readonly #listeners = new Set<(e: ContainerEvent) => void>();
  readonly #log: (line: string) => void;

  private constructor(log: (line: string) => void) {
    this.#log = log;
    const hostDir = join(this.dir, 'h');
    this.engine = new HostEngine({ ns: this.ns, dir: hostDir, cgroupParent: `/${this.ns}`, logFile: join(this.dir, 'logs', 'dockerd.log') });
    this.flotillaDir = join(this.dir, 'flotilla');
    this.client = new FlotillaClient({ socketPath: join(this.flotillaDir, 'flotilla.sock') });
  }

  static async create(options: { log: (line: string) => void; flotillaLogLevel?: string }): Promise<StartBed> {
    const bed = new StartBed(options.log);
    const lock = join(bed.dir, 'lock');
    if (existsSync(lock)) {
      const pid = Number(readFileSync(lock, 'utf8'));
      if (pid !== process.pid && isAlive(pid)) throw new Error(`another bench:start runs (pid ${pid})`);
    }
    try {
      await bed.#build(options.flotillaLogLevel ?? 'info');
    } catch (e) {
      await bed.destroy();
      throw e;
    }
    return bed;
  }

  async #build(logLevel: string): Promise<void> {
    const left = await sweep(BENCH_PREFIX, this.dir);
    if (left.length > 0) throw new Error(`cannot clean up an earlier run: ${left.join('; ')}`);
    mkdirSync(join(this.dir, 'logs'), { recursive: true });
    writeFileSync(join(this.dir, 'lock'), String(process.pid));

    // A namespace with an address of its own (Swarm needs one to advertise), no route out.
    await run('ip', ['netns', 'add', this.ns]);
    await run('ip', ['-n', this.ns, 'link', 'set', 'lo', 'up']);
    // (A veth pair with both ends inside: the `dummy` link type may not be built into the kernel.)
    await run('ip', ['-n', this.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0-peer']);
    await run('ip', ['-n', this.ns, 'addr', 'add', '10.231.0.1/24', 'dev', 'eth0']);
    await run('ip', ['-n', this.ns, 'link', 'set', 'eth0-peer', 'up']);
    await run('ip', ['-n', this.ns, 'link', 'set', 'eth0', 'up']);

    this.#log(`engine: dockerd in ${this.ns}, socket ${this.engine.socket}`);
    await this.engine.start();
    await run('sh', [join(REPO_ROOT, 'scripts/build-images.sh')], { env: { ...process.env, DOCKER_HOST: this.engine.host }, timeoutMs: 300_000 });
    await this.#watchEngine();

    this.#log(`flotilla: flotilla dev --driver docker in ${this.ns} (data ${this.flotillaDir})`);
    mkdirSync(this.flotillaDir, { recursive: true });
    const env = { ...flotillaEnv({ FLOTILLA_HOME: this.flotillaDir, FLOTILLA_LOG_LEVEL: logLevel }), DOCKER_HOST: this.engine.host };
    const argv = inHost(this.ns, BENCH_PREFIX, flotillaArgv(['dev', '--driver', 'docker', '--data-dir', this.flotillaDir]));
    const proc = new GroupProcess('flotilla dev', argv, join(this.dir, 'logs', 'flotilla.log'), env);
    this.#flotilla = proc;
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`flotilla dev exited:\n${proc.tail()}`);
        const nodes = await this.client.listNodes().catch(() => []);
        return nodes.some((n) => n.status.state === 'ready');
      },
      60_000,
      'flotilla dev to answer with its node ready',
    );
  }

  /** The flotilla dev log file. */
  get flotillaLog(): string {
    return join(this.dir, 'logs', 'flotilla.log');
  }

  /** Calls `listener` for every container create and start event of the engine. */
  onContainerEvent(listener: (e: ContainerEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #watchEngine(): Promise<void> {
    const filters = JSON.stringify({ type: ['container'], event: ['create', 'start'] });
    const stream = (await this.engine.docker.getEvents({ filters } as object)) as Readable;
    this.#events = stream;
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        const e = JSON.parse(line) as { Action: string; Actor: { ID: string; Attributes?: Record<string, string> }; timeNano: number };
        if (e.Action !== 'create' && e.Action !== 'start') continue;
        const ev: ContainerEvent = { action: e.Action, id: e.Actor.ID, atMs: e.timeNano / 1e6, attributes: e.Actor.Attributes ?? {} };
        for (const l of this.#listeners) l(ev);
      }
    });
    stream.on('error', () => undefined);
  }

  /** `docker -H <bench engine> ARGS…`. */
  docker(args: readonly string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
    return run('docker', ['-H', this.engine.host, ...args], { timeoutMs });
  }

  /** Turns the bench engine into a one-node swarm (left again by `destroy`). */
  async swarmInit(): Promise<void> {
    this.#swarm = true;
    await this.docker(['swarm', 'init', '--advertise-addr', '10.231.0.1']);
  }

  /** The image's id (`sha256:…`), so Swarm uses the local image without asking a registry. */
  async imageId(): Promise<string> {
    return (await this.docker(['image', 'inspect', '--format', '{{.Id}}', BENCH_IMAGE])).stdout.trim();
  }

  /** Containers (running or not) with every label of `labels`. */
  async containers(labels: Readonly<Record<string, string>>): Promise<string[]> {
    return (await this.engine.containers(labels)).map((c) => c.id);
  }

  /** Force-removes the containers carrying `labels`. */
  async removeContainers(labels: Readonly<Record<string, string>>): Promise<void> {
    const ids = await this.containers(labels);
    await Promise.all(ids.map((id) => this.engine.docker.getContainer(id).remove({ force: true }).catch(() => undefined)));
  }

  /** Stops Flotilla, leaves the swarm, stops the engine and removes everything. Never throws. */
  async destroy(): Promise<string[]> {
    this.#events?.destroy();
    this.#events = undefined;
    await this.#flotilla?.stop('SIGTERM', 10_000);
    if (this.#swarm && (await this.engine.answers())) {
      await run('docker', ['-H', this.engine.host, 'swarm', 'leave', '--force'], { allowFail: true, timeoutMs: 30_000 });
    }
    this.#swarm = false;
    await this.engine.removeAllContainers().catch(() => undefined);
    await this.engine.stop().catch(() => undefined);
    // Task secret mounts of the dev node live under /run/flotilla/<node>/ only when used: none here.
    return sweep(BENCH_PREFIX, this.dir);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
