/**
 * The cluster `bench/dashboard.ts` measures the dashboard against: a real `Manager` in this
 * process (SQLite store in a temp dir, leader loops, dispatcher, control API, the dashboard's
 * gate with the assets `buildDashboard()` makes, an HTTP listener on loopback) and N simulated
 * nodes in a child process (`bench/dashboard-nodes.ts`: real node agents on the fake driver,
 * each in an agent session of its own over the manager's WebSocket), running services that
 * total M tasks.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../src/api/task.ts';
import { FlotillaClient } from '../src/client/client.ts';
import { systemClock } from '../src/lib/clock.ts';
import { createLogger } from '../src/lib/logger.ts';
import { Manager } from '../src/manager/manager.ts';
import { buildDashboard } from '../src/ui/build.ts';
import type { NodesCommand, NodesReport } from './dashboard-nodes.ts';

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
  /** The dashboard's origin (`http://127.0.0.1:PORT`). */
  readonly origin: string;
  readonly #dir: string;
  #nodes: ChildProcess | undefined;

  private constructor(dir: string, manager: Manager, origin: string) {
    this.#dir = dir;
    this.manager = manager;
    this.origin = origin;
    // Over TCP, not the API socket: a thousand agents' sessions (and their reconnects) queue there.
    this.client = new FlotillaClient({ url: origin });
  }

  static async start(o: BenchClusterOptions): Promise<BenchCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-bench-dashboard-'));
    const logger = createLogger({ level: process.env['FLOTILLA_LOG_LEVEL'] ?? 'error' });
    const assets = await buildDashboard();
    const manager = new Manager({ clock: systemClock, logger }, { dataDir: join(dir, 'manager'), listen: [{ host: '127.0.0.1', port: 0 }], dashboard: { assets } });
    await manager.start();
    const origin = manager.addresses.find((a) => a.startsWith('http://')) ?? '';
    const c = new BenchCluster(dir, manager, origin);
    try {
      const nodes = fork(join(import.meta.dirname, 'dashboard-nodes.ts'), [manager.socketPath, String(o.nodes), join(dir, 'nodes')], { stdio: 'inherit' });
      c.#nodes = nodes;
      const [ready] = (await Promise.race([once(nodes, 'message'), once(nodes, 'exit').then(() => Promise.reject(new Error('the simulated nodes exited')))])) as [NodesReport];
      o.log(`cluster: ${o.nodes} nodes connected in ${ready.type === 'ready' ? ready.seconds.toFixed(2) : '?'} s`);
      const t = performance.now();
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

  /** Makes running tasks' processes exit with code 1 on their nodes: the agents report them failed. */
  crash(tasks: readonly Task[]): void {
    this.#nodes?.send({ type: 'crash', ids: tasks.map((t) => t.id) } satisfies NodesCommand);
  }

  async stop(): Promise<void> {
    const nodes = this.#nodes;
    if (nodes && nodes.exitCode === null) {
      const exited = once(nodes, 'exit');
      nodes.send({ type: 'stop' } satisfies NodesCommand);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000).unref())]);
      nodes.kill();
    }
    await this.manager.stop();
    await rm(this.#dir, { recursive: true, force: true });
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
