import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';
import { netnsPath } from './netns.ts';
import { GroupProcess, run } from './proc.ts';
import { waitFor } from './wait.ts';

/** A container as a host's engine lists it. */
export interface ContainerInfo {
  readonly id: string;
  /** `running`, `exited`, `created` … */
  readonly state: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Where one host's engine keeps its state. */
export interface EngineLayout {
  /** The host's network namespace. */
  readonly ns: string;
  /** The host's directory; the engine's files go in `docker/` below it. */
  readonly dir: string;
  /** Cgroup parent of its containers (`/flt-t-h1`), so leftovers can be found by cgroup. */
  readonly cgroupParent: string;
  readonly logFile: string;
}

/**
 * One host's own Docker engine: `dockerd` with its own data root, exec root (so its own
 * containerd), socket and pid file, started inside the host's network namespace with
 * `nsenter --net=` — not `ip netns exec`, which remounts /sys and hides the cgroup mounts.
 * Its containers get the engine's default bridge inside the namespace.
 */
export class HostEngine {
  readonly layout: EngineLayout;
  readonly socket: string;
  readonly docker: Docker;
  #proc: GroupProcess | undefined;

  constructor(layout: EngineLayout) {
    this.layout = layout;
    this.socket = join(layout.dir, 'docker', 'docker.sock');
    this.docker = new Docker({ socketPath: this.socket });
  }

  /** `unix:///…/docker.sock`, as `--docker-host` and `DOCKER_HOST` take it. */
  get host(): string {
    return `unix://${this.socket}`;
  }

  get running(): boolean {
    return this.#proc?.running ?? false;
  }

  /** Starts dockerd and waits until it answers (default 60 s). */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.#proc?.running) return;
    const d = join(this.layout.dir, 'docker');
    mkdirSync(d, { recursive: true });
    const config = join(d, 'daemon.json');
    // Its own (empty) config file: the machine's /etc/docker/daemon.json must not leak in.
    if (!existsSync(config)) writeFileSync(config, '{}\n');
    this.#proc = new GroupProcess(
      `dockerd ${this.layout.ns}`,
      [
        'nsenter',
        `--net=${netnsPath(this.layout.ns)}`,
        'dockerd',
        `--config-file=${config}`,
        `--data-root=${join(d, 'root')}`,
        `--exec-root=${join(d, 'run')}`,
        `--host=unix://${this.socket}`,
        `--pidfile=${join(d, 'docker.pid')}`,
        '--exec-opt=native.cgroupdriver=cgroupfs',
        `--cgroup-parent=${this.layout.cgroupParent}`,
        '--shutdown-timeout=3',
      ],
      this.layout.logFile,
    );
    const proc = this.#proc;
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`dockerd in ${this.layout.ns} exited (${JSON.stringify(proc.exit)}):\n${proc.tail()}`);
        return this.answers();
      },
      timeoutMs,
      `dockerd in ${this.layout.ns} to answer on ${this.socket}`,
    );
  }

  /** Whether the engine answers a ping. */
  async answers(): Promise<boolean> {
    try {
      await this.docker.ping();
      return true;
    } catch {
      return false;
    }
  }

  /** Stops dockerd (SIGTERM: it stops its containers and containerd) and waits for it. */
  async stop(): Promise<void> {
    await this.#proc?.stop('SIGTERM', 20_000);
  }

  /** Loads images from a `docker save` tarball. */
  async load(tarball: string): Promise<void> {
    await run('docker', ['-H', this.host, 'load', '-i', tarball], { timeoutMs: 120_000 });
  }

  /** Containers (running or not) carrying every label in `labels` (`{key: value}`). */
  async containers(labels: Readonly<Record<string, string>> = {}): Promise<ContainerInfo[]> {
    const filters = { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) };
    const list = await this.docker.listContainers({ all: true, filters: JSON.stringify(filters) });
    return list.map((c) => ({ id: c.Id, state: c.State, labels: c.Labels }));
  }

  /** Removes every container of this engine (force): the first step of tearing a host down. */
  async removeAllContainers(): Promise<void> {
    if (!(await this.answers())) return;
    const list = await this.docker.listContainers({ all: true });
    await Promise.all(list.map((c) => this.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  }

  /** The last lines of dockerd's log. */
  tail(lines = 30): string {
    return this.#proc?.tail(lines) ?? '';
  }
}
