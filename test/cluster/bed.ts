import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node } from '../../src/api/node.ts';
import type { FlotillaClient } from '../../src/client/client.ts';
import { bedManagers, etcdReady, spawnEtcd, startManagerProcess, storeUrl, type BedManager } from './bed-managers.ts';
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
  /**
   * Managers (default 1: `m`, on its embedded SQLite store). More: `m1` … each in a namespace
   * of its own with one member of the bed's etcd cluster on its IP; the first creates the
   * cluster, the others join it with the manager token.
   */
  readonly managers?: number;
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

export type { BedManager } from './bed-managers.ts';

/**
 * A multi-host Flotilla cluster on one machine: N hosts as network namespaces on a bridge,
 * each with its own Docker engine and agent, and a manager in a namespace of its own; plus
 * the failure helpers (kill an agent, stop an engine, cut a link). Needs root.
 * `destroy()` removes everything, and `create()` first removes what a crashed run left.
 */
export class TestBed {
  readonly prefix: string;
  readonly dir: string;
  /** The first manager (the only one without `managers`). */
  readonly manager: BedManager;
  /** Every manager, the first one first. */
  readonly managers: readonly BedManager[];
  readonly hosts: readonly BedHost[];
  /** A client of the first manager's unix socket (fully trusted, like `flotilla` on the manager host). */
  readonly client: FlotillaClient;
  readonly #names: NetNames;
  readonly #options: BedOptions;
  readonly #log: (line: string) => void;
  #managerToken: string | undefined;

  private constructor(options: BedOptions) {
    this.#options = options;
    this.prefix = options.prefix ?? 'flt-t';
    if (!/^[a-z][a-z0-9-]{0,5}$/.test(this.prefix)) throw new Error(`bad bed prefix "${this.prefix}": up to 6 lowercase letters, digits or dashes`);
    this.#log = options.log ?? (() => undefined);
    this.dir = join(tmpdir(), this.prefix);
    this.#names = netNames(this.prefix);
    const subnet = options.subnet ?? '10.199.0';
    this.managers = bedManagers({ count: options.managers ?? 1, subnet, dir: this.dir, hostNs: (n) => this.#names.hostNs(n) });
    this.manager = this.managers[0]!;
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
    this.client = this.manager.client;
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

    this.#log(`network: switch ${this.#names.switchNs}, managers ${this.managers.map((m) => m.ip).join(' ')}, hosts ${this.hosts.map((h) => h.ip).join(' ')}`);
    const subnet = this.manager.ip.replace(/\.1$/, '');
    await createSwitch(this.#names);
    for (const m of this.managers) await addHost(this.#names, m.name, `${m.ip}/24`);
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
    const members = this.managers.flatMap((m) => (m.etcd ? [m.etcd] : []));
    if (members.length > 0) {
      this.#log(`etcd: one member in each of ${members.map((m) => m.name).join(', ')}`);
      const clusterToken = `${this.prefix}-${process.pid}-${Date.now()}`;
      for (const m of members) spawnEtcd(m, members, clusterToken);
      await Promise.all(members.map((m) => etcdReady(m)));
    }
    this.#log('managers: flotilla server --no-agent');
    await this.startManager(this.manager.name);
    await Promise.all(this.managers.slice(1).map((m) => this.startManager(m.name)));
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

  /** The manager called `name` (`m`, or `m1` …). */
  managerNamed(name: string): BedManager {
    const m = this.managers.find((x) => x.name === name);
    if (!m) throw new Error(`no manager ${name} in the bed (managers: ${this.managers.map((x) => x.name).join(', ')})`);
    return m;
  }

  /**
   * Starts `flotilla server --no-agent` in a manager's namespace (default: the first) and
   * waits for its socket and HTTPS port. On etcd, with every member in `--store` (its own
   * first); every manager but the first with `--join-token` (the first's manager token).
   */
  async startManager(name = this.manager.name): Promise<void> {
    const m = this.managerNamed(name);
    if (m.proc?.running) return;
    const args = [...(this.#options.managerArgs ?? [])];
    if (m.etcd) {
      args.push('--store', storeUrl(m, this.managers));
      if (m !== this.manager) {
        this.#managerToken ??= await this.token('manager');
        args.push('--join-token', this.#managerToken);
      }
    }
    await startManagerProcess(m, args, join(this.dir, 'logs'));
  }

  /** `sig` (default SIGTERM) to a manager (default: the first); resolves once it has exited. */
  async stopManager(sig: NodeJS.Signals = 'SIGTERM', name = this.manager.name): Promise<void> {
    await this.managerNamed(name).proc?.stop(sig);
  }

  /** Stops a manager's etcd member (SIGTERM); its data stays. */
  async stopEtcd(name: string): Promise<void> {
    await this.managerNamed(name).etcd?.proc?.stop('SIGTERM');
  }

  /** Starts a manager's etcd member again on its data, and waits until it serves a read. */
  async startEtcd(name: string): Promise<void> {
    const member = this.managerNamed(name).etcd;
    if (!member) throw new Error(`manager ${name} has no etcd member (the bed runs one manager on SQLite)`);
    const all = this.managers.flatMap((m) => (m.etcd ? [m.etcd] : []));
    spawnEtcd(member, all, 'restart');
    await etcdReady(member);
  }

  /** Every etcd member's client endpoint (`IP:2379`), reachable from the test process. */
  get etcdEndpoints(): string[] {
    return this.managers.flatMap((m) => (m.etcd ? [m.etcd.endpoint] : []));
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

  /**
   * Cuts the link of a host or a manager (`h1`, `m2` …): its port on the switch goes down, so
   * it can reach no one (a manager's etcd member goes with it).
   */
  async cutLink(name: string): Promise<void> {
    await setLink(this.#names, this.#linkName(name), false);
  }

  async restoreLink(name: string): Promise<void> {
    await setLink(this.#names, this.#linkName(name), true);
  }

  #linkName(name: string): string {
    return this.managers.some((m) => m.name === name) ? name : this.host(name).name;
  }

  /** Containers on the host's engine carrying every label given. */
  containers(name: string, labels: Readonly<Record<string, string>> = {}): Promise<ContainerInfo[]> {
    return this.host(name).engine.containers(labels);
  }

  /** Runs `flotilla ARGS…` against the first manager (over its unix socket). */
  cli(...args: string[]): Promise<RunResult> {
    return flotillaCli(this.manager.dir, args);
  }

  /** Runs `flotilla ARGS…` against the manager called `name` (over its unix socket). */
  cliOn(name: string, ...args: string[]): Promise<RunResult> {
    return flotillaCli(this.managerNamed(name).dir, args);
  }

  /** The cluster's node for a host (by hostname), if registered (asked of the first manager running). */
  async node(name: string): Promise<Node | undefined> {
    const client = (this.managers.find((m) => m.proc?.running) ?? this.manager).client;
    return (await client.listNodes()).find((n) => n.description.hostname === name);
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
    await Promise.all(this.managers.map((m) => m.proc?.stop('SIGTERM', 5_000)));
    await Promise.all(this.managers.map((m) => m.etcd?.proc?.stop('SIGTERM', 5_000)));
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


export { waitFor };
