import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node } from '../../src/api/node.ts';
import { FlotillaClient } from '../../src/client/client.ts';
import { HostEngine, type ContainerInfo } from './engine.ts';
import { API_PORT, flotillaArgv, flotillaCli, flotillaEnv, inHost } from './flotilla.ts';
import { addHost, addProbe, createSwitch, netNames, setLink, type NetNames } from './netns.ts';
import { GroupProcess, run, type RunResult } from './proc.ts';
import { sweep } from './sweep.ts';
import { waitFor } from './wait.ts';

/** The image every host's engine gets (built by scripts/build-images.sh). */
export const BED_IMAGE = 'flotilla/busybox:test';

/** Options of {@link TestBed.create}; all optional. */
export interface BedOptions {
  /** Worker hosts (default 3). */
  readonly hosts?: number;
  /** Prefix of every namespace, interface, cgroup and the directory (default `flt-t`, ≤ 6 chars). */
  readonly prefix?: string;
  /** The /24 the bed uses, as its first three octets (default `10.199.0`). */
  readonly subnet?: string;
  /** Extra arguments for `flotilla server`. */
  readonly managerArgs?: readonly string[];
  /** Start the manager (default true; false builds only network and engines). */
  readonly manager?: boolean;
  /** Join the hosts' agents with the worker token at once (default true; needs the manager). */
  readonly join?: boolean;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /**
   * The agents run the exec driver beside the docker driver (default false: docker only).
   * Exec tasks are host processes; those on networks have a network namespace of their own.
   */
  readonly exec?: boolean;
}

/** One worker host of the bed. */
export interface BedHost {
  /** `h1`, `h2` …: also its hostname, so its node's hostname. */
  readonly name: string;
  readonly ns: string;
  readonly ip: string;
  /** The host's directory; the agent's data dir is `agent/` below it. */
  readonly dir: string;
  readonly agentDir: string;
  readonly engine: HostEngine;
  agent: GroupProcess | undefined;
  /** The token its agent last joined with (a restart uses it again). */
  token: string | undefined;
}

/** The manager of the bed. */
export interface BedManager {
  readonly ns: string;
  readonly ip: string;
  /** Its data dir: CA, admin credential, state, API socket. */
  readonly dir: string;
  /** `https://IP:4280`, reachable from the test process through the probe link. */
  readonly url: string;
  readonly socket: string;
  proc: GroupProcess | undefined;
}

/**
 * A multi-host Flotilla cluster on one machine: N hosts as network namespaces on a bridge,
 * each with its own Docker engine and agent, and a manager in a namespace of its own; plus
 * the failure helpers (kill an agent, stop an engine, cut a link). Needs root.
 * `destroy()` removes everything, and `create()` first removes what a crashed run left.
 */
export class TestBed {
  readonly prefix: string;
  readonly dir: string;
  readonly manager: BedManager;
  readonly hosts: readonly BedHost[];
  /** A client of the manager's unix socket (fully trusted, like `flotilla` on the manager host). */
  readonly client: FlotillaClient;
  readonly #names: NetNames;
  readonly #options: BedOptions;
  readonly #log: (line: string) => void;

  private constructor(options: BedOptions) {
    this.#options = options;
    this.prefix = options.prefix ?? 'flt-t';
    if (!/^[a-z][a-z0-9-]{0,5}$/.test(this.prefix)) throw new Error(`bad bed prefix "${this.prefix}": up to 6 lowercase letters, digits or dashes`);
    this.#log = options.log ?? (() => undefined);
    this.dir = join(tmpdir(), this.prefix);
    this.#names = netNames(this.prefix);
    const subnet = options.subnet ?? '10.199.0';
    const mdir = join(this.dir, 'manager');
    this.manager = {
      ns: this.#names.hostNs('m'),
      ip: `${subnet}.1`,
      dir: mdir,
      url: `https://${subnet}.1:${API_PORT}`,
      socket: join(mdir, 'flotilla.sock'),
      proc: undefined,
    };
    this.hosts = Array.from({ length: options.hosts ?? 3 }, (_, i) => {
      const name = `h${i + 1}`;
      const dir = join(this.dir, name);
      const ns = this.#names.hostNs(name);
      return {
        name,
        ns,
        ip: `${subnet}.${11 + i}`,
        dir,
        agentDir: join(dir, 'agent'),
        engine: new HostEngine({ ns, dir, cgroupParent: `/${this.prefix}-${name}`, logFile: join(this.dir, 'logs', `${name}-dockerd.log`) }),
        agent: undefined,
        token: undefined,
      };
    });
    this.client = new FlotillaClient({ socketPath: this.manager.socket });
  }

  /** Builds a bed: network, engines (with the test image), manager, and joined agents. */
  static async create(options: BedOptions = {}): Promise<TestBed> {
    const bed = new TestBed(options);
    // Another live bed with this prefix must be left alone (no destroy on this failure).
    const lock = join(bed.dir, 'lock');
    if (existsSync(lock)) {
      const pid = Number(readFileSync(lock, 'utf8'));
      if (pid !== process.pid && isAlive(pid)) throw new Error(`a test bed with prefix ${bed.prefix} is in use by pid ${pid}`);
    }
    try {
      await bed.#build();
    } catch (e) {
      await bed.destroy();
      throw e;
    }
    return bed;
  }

  async #build(): Promise<void> {
    const leftovers = await sweep(this.prefix, this.dir);
    if (leftovers.length > 0) throw new Error(`cannot clean up an earlier bed: ${leftovers.join('; ')}`);
    mkdirSync(join(this.dir, 'logs'), { recursive: true });
    writeFileSync(join(this.dir, 'lock'), String(process.pid));

    this.#log(`network: switch ${this.#names.switchNs}, manager ${this.manager.ip}, hosts ${this.hosts.map((h) => h.ip).join(' ')}`);
    const subnet = this.manager.ip.replace(/\.1$/, '');
    await createSwitch(this.#names);
    await addHost(this.#names, 'm', `${this.manager.ip}/24`);
    for (const h of this.hosts) await addHost(this.#names, h.name, `${h.ip}/24`);
    await addProbe(this.#names, `${subnet}.254/24`);

    this.#log('engines: starting dockerd in every host');
    const tarball = await this.#imageTarball();
    await Promise.all(
      this.hosts.map(async (h) => {
        await h.engine.start();
        await h.engine.load(tarball);
      }),
    );

    if (this.#options.manager === false) return;
    this.#log('manager: flotilla server --no-agent');
    await this.startManager();
    if (this.#options.join ?? true) {
      const token = await this.token('worker');
      this.#log('agents: flotilla join in every host');
      for (const h of this.hosts) this.startAgent(h.name, token);
      await Promise.all(this.hosts.map((h) => this.waitReady(h.name)));
    }
  }

  async #imageTarball(): Promise<string> {
    const inspect = await run('docker', ['image', 'inspect', BED_IMAGE], { allowFail: true });
    if (inspect.code !== 0) await run('sh', [join(import.meta.dirname, '../../scripts/build-images.sh')], { timeoutMs: 300_000 });
    const tarball = join(this.dir, 'image.tar');
    await run('docker', ['save', '-o', tarball, BED_IMAGE, 'flotilla/busybox:latest'], { timeoutMs: 120_000 });
    return tarball;
  }

  /** The host called `name` (`h1` …). */
  host(name: string): BedHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name} in the bed (hosts: ${this.hosts.map((x) => x.name).join(', ')})`);
    return h;
  }

  /** Starts `flotilla server` in the manager's namespace and waits for its socket and HTTPS port. */
  async startManager(): Promise<void> {
    if (this.manager.proc?.running) return;
    const m = this.manager;
    const args = ['server', '--no-agent', '--advertise-addr', m.ip, '--listen-addr', `${m.ip}:${API_PORT}`, '--data-dir', m.dir, ...(this.#options.managerArgs ?? [])];
    const proc = new GroupProcess('manager', inHost(m.ns, 'manager', flotillaArgv(args)), join(this.dir, 'logs', 'manager.log'), flotillaEnv());
    m.proc = proc;
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`flotilla server exited (${JSON.stringify(proc.exit)}):\n${proc.tail()}`);
        if (!existsSync(m.socket)) return 'no API socket yet';
        try {
          await this.client.info();
        } catch {
          return 'API socket does not answer';
        }
        return (await tcpOpen(m.ip, API_PORT)) || `port ${API_PORT} closed`;
      },
      60_000,
      'the manager to serve its API socket and HTTPS port',
    );
  }

  /** SIGTERM to the manager; resolves once it has exited. */
  async stopManager(sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.manager.proc?.stop(sig);
  }

  /** `flotilla token worker|manager -q` on the manager. */
  async token(role: 'worker' | 'manager'): Promise<string> {
    const r = await this.cli('token', role, '-q');
    if (r.code !== 0) throw new Error(`flotilla token ${role} -q failed (${r.code}): ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  /** The `flotilla join` command line for a host (without the namespace wrapper). */
  joinArgs(name: string, token: string): string[] {
    const h = this.host(name);
    // Without `--driver` the agent runs docker and exec when both can run (its engine answers).
    const driver = this.#options.exec === true ? [] : ['--driver', 'docker'];
    return ['join', '--token', token, '--data-dir', h.agentDir, '--docker-host', h.engine.host, ...driver, `${this.manager.ip}:${API_PORT}`];
  }

  /**
   * Starts the host's agent in the foreground: `flotilla join` with `token` (default: the one
   * it joined with before, so a restart keeps its identity from its data dir).
   */
  startAgent(name: string, token?: string): GroupProcess {
    const h = this.host(name);
    if (h.agent?.running) throw new Error(`the agent of ${name} is already running`);
    const t = token ?? h.token;
    if (t === undefined) throw new Error(`no join token for ${name}: pass one`);
    h.token = t;
    const argv = inHost(h.ns, h.name, flotillaArgv(this.joinArgs(name, t)));
    h.agent = new GroupProcess(`agent ${name}`, argv, join(this.dir, 'logs', `${name}-agent.log`), flotillaEnv());
    return h.agent;
  }

  /** Runs a command to completion inside a host (its namespaces), e.g. a join expected to fail. */
  async runIn(name: string, argv: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
    const h = this.host(name);
    const [cmd, ...args] = inHost(h.ns, h.name, argv);
    return run(cmd ?? 'false', args, { env: flotillaEnv(), allowFail: true, timeoutMs });
  }

  /** SIGKILL to the host's agent (and anything it started); resolves once it is dead. */
  async killAgent(name: string): Promise<void> {
    await this.host(name).agent?.stop('SIGKILL');
  }

  /** SIGTERM to the host's agent; resolves once it has exited. */
  async stopAgent(name: string): Promise<void> {
    await this.host(name).agent?.stop('SIGTERM');
  }

  /** Stops the host's Docker engine (its containers stop with it). */
  async stopEngine(name: string): Promise<void> {
    await this.host(name).engine.stop();
  }

  async startEngine(name: string): Promise<void> {
    await this.host(name).engine.start();
  }

  /** Cuts the host's link: its port on the switch goes down, so it can reach no one. */
  async cutLink(name: string): Promise<void> {
    await setLink(this.#names, this.host(name).name, false);
  }

  async restoreLink(name: string): Promise<void> {
    await setLink(this.#names, this.host(name).name, true);
  }

  /** Containers on the host's engine carrying every label given. */
  containers(name: string, labels: Readonly<Record<string, string>> = {}): Promise<ContainerInfo[]> {
    return this.host(name).engine.containers(labels);
  }

  /** Runs `flotilla ARGS…` against the manager (over its unix socket). */
  cli(...args: string[]): Promise<RunResult> {
    return flotillaCli(this.manager.dir, args);
  }

  /** The cluster's node for a host (by hostname), if registered. */
  async node(name: string): Promise<Node | undefined> {
    return (await this.client.listNodes()).find((n) => n.description.hostname === name);
  }

  /** Waits until the host's node is registered and ready. */
  async waitReady(name: string, timeoutMs = 60_000): Promise<Node> {
    const h = this.host(name);
    let node: Node | undefined;
    await waitFor(
      async () => {
        if (h.agent && !h.agent.running) throw new Error(`the agent of ${name} exited (${JSON.stringify(h.agent.exit)}):\n${h.agent.tail()}`);
        node = await this.node(name);
        return node?.status.state === 'ready' || `node ${name}: ${node ? node.status.state : 'not registered'}`;
      },
      timeoutMs,
      `node ${name} to be ready`,
    );
    return node as Node;
  }

  /**
   * Tears everything down — agents, manager, containers, engines and their shims, mounts,
   * namespaces, veths, cgroups, files — whatever state the bed is in. Logs are kept in
   * `$TMPDIR/<prefix>-logs` for a look after a failure. Never throws; returns what it could
   * not remove (empty when clean).
   */
  async destroy(): Promise<string[]> {
    await Promise.all(this.hosts.map((h) => h.agent?.stop('SIGKILL')));
    await this.manager.proc?.stop('SIGTERM', 5_000);
    await Promise.all(
      this.hosts.map(async (h) => {
        await h.engine.removeAllContainers().catch(() => undefined);
        await h.engine.stop().catch(() => undefined);
      }),
    );
    const logs = join(this.dir, 'logs');
    if (existsSync(logs)) {
      const kept = join(tmpdir(), `${this.prefix}-logs`);
      rmSync(kept, { recursive: true, force: true });
      try {
        cpSync(logs, kept, { recursive: true });
      } catch {
        // logs are a convenience
      }
    }
    return sweep(this.prefix, this.dir);
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Whether a TCP connection to host:port opens (within 1 s). */
function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: 1_000 });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.once('timeout', () => done(false));
  });
}

export { waitFor };
