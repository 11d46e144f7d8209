/**
 * The cluster `bench/dashboard.ts` measures the dashboard against: a real `Manager` in this
 * process (SQLite store in a temp dir, leader loops, dispatcher, control API, the dashboard's
 * gate with the assets `buildDashboard()` makes, an HTTP listener on loopback) and N simulated
 * nodes — real node agents (`NodeAgent`, the composition root of `flotilla join`) on the fake
 * driver, each in a session of its own over the manager's agent WebSocket (`ws+unix://` on the
 * API socket, as `flotilla dev`'s agent connects) — running services that total M tasks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../src/api/task.ts';
import { NodeAgent } from '../src/agent/boot.ts';
import { FakeHost } from '../src/agent/drivers/fake/fake-host.ts';
import { FlotillaClient } from '../src/client/client.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createLogger } from '../src/lib/logger.ts';
import { Manager } from '../src/manager/manager.ts';
import { buildDashboard } from '../src/ui/build.ts';

/** One simulated node: its agent and the fake machine its tasks run on. */
interface SimNode {
  readonly name: string;
  readonly agent: NodeAgent;
  readonly host: FakeHost;
}

export interface BenchClusterOptions {
  readonly nodes: number;
  readonly tasks: number;
  /** Tasks of the one big service (the long task list the bench scrolls); the rest are spread over smaller ones. */
  readonly big: number;
  readonly log: (line: string) => void;
}

/** Service sizes: one of `big`, the rest in services of 10 to 100 tasks, adding up to `total`. */
export function serviceSizes(total: number, big: number): number[] {
  const sizes = [Math.min(big, total)];
  const steps = [10, 25, 50, 100];
  for (let left = total - sizes[0]!, i = 0; left > 0; i++) {
    const n = Math.min(left, steps[i % steps.length]!);
    sizes.push(n);
    left -= n;
  }
  return sizes;
}

export class BenchCluster {
  readonly manager: Manager;
  readonly client: FlotillaClient;
  readonly nodes: SimNode[] = [];
  /** The dashboard's origin (`http://127.0.0.1:PORT`). */
  readonly origin: string;
  readonly #dir: string;

  private constructor(dir: string, manager: Manager, origin: string) {
    this.#dir = dir;
    this.manager = manager;
    this.origin = origin;
    this.client = new FlotillaClient({ socketPath: manager.socketPath });
  }

  static async start(o: BenchClusterOptions): Promise<BenchCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-dashboard-'));
    const logger = createLogger({ level: process.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' });
    const assets = await buildDashboard();
    const manager = new Manager({ clock: systemClock, logger }, { dataDir: join(dir, 'manager'), listen: [{ host: '127.0.0.1', port: 0 }], dashboard: { assets } });
    await manager.start();
    const origin = manager.addresses.find((a) => a.startsWith('http://')) ?? '';
    const c = new BenchCluster(dir, manager, origin);
    try {
      let t = performance.now();
      for (let i = 0; i < o.nodes; i += 50) {
        await Promise.all(Array.from({ length: Math.min(50, o.nodes - i) }, (_, k) => c.#addNode(i + k, logger)));
      }
      o.log(`cluster: ${o.nodes} nodes connected in ${secs(performance.now() - t)} s`);
      t = performance.now();
      const sizes = serviceSizes(o.tasks, o.big);
      for (const [k, replicas] of sizes.entries()) {
        await c.client.createService({ name: k === 0 ? 'big' : `svc-${String(k).padStart(3, '0')}`, replicas, taskTemplate: { driver: 'fake', container: { image: 'fake' } } });
      }
      await c.#untilRunning(o.tasks, o.log);
      o.log(`cluster: ${sizes.length} services, ${o.tasks} tasks running in ${secs(performance.now() - t)} s`);
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  /** Running tasks, by the store (not the API: no load on it while measuring). */
  running(): Task[] {
    return this.manager.store.tasks.all().filter((t) => t.desiredState === 'running' && t.status.state === 'running');
  }

  /** Makes a running task's process exit with code 1 on its node: the agent reports it failed. */
  crash(task: Task): boolean {
    const node = this.nodes.find((n) => n.agent.nodeId === task.nodeId);
    return node?.host.crash(task.id, 1, 'crashed by bench:dashboard') ?? false;
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i += 100) await Promise.all(this.nodes.slice(i, i + 100).map((n) => n.agent.stop().catch(() => {})));
    await this.manager.stop();
    await rm(this.#dir, { recursive: true, force: true });
  }

  async #addNode(i: number, logger: ReturnType<typeof createLogger>): Promise<void> {
    const name = `sim-${String(i + 1).padStart(4, '0')}`;
    const host = new FakeHost();
    const agent = await NodeAgent.create(
      { clock: systemClock, logger },
      {
        dataDir: join(this.#dir, 'nodes', name),
        link: { transport: 'unix', socketPath: this.manager.socketPath },
        drivers: { kind: 'fake', host },
        agent: {
          description: { hostname: name, platform: { os: 'linux', arch: 'x86_64' }, resources: { nanoCpus: 8e9, memoryBytes: 16 * 1024 ** 3 } },
          backoff: { initialMs: 100, maxMs: 2_000, jitter: 0.5 },
        },
      },
    );
    this.nodes.push({ name, agent, host });
    await agent.start();
    await agent.welcomed;
  }

  async #untilRunning(n: number, log: (line: string) => void): Promise<void> {
    const t0 = performance.now();
    let last = 0;
    for (;;) {
      const running = this.running().length;
      if (running >= n) return;
      if (performance.now() - last > 5_000) {
        log(`  ${secs(performance.now() - t0)} s: ${running} of ${n} running`);
        last = performance.now();
      }
      if (performance.now() - t0 > 600_000) throw new Error(`only ${running} of ${n} tasks running after 10 min`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export function secs(ms: number): string {
  return (ms / 1000).toFixed(2);
}
