import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { exposition, LATENCY_BUCKETS, newRegistry } from '../lib/metrics.ts';
import type { Logger } from '../lib/logger.ts';
import type { HealthState } from './drivers/driver.ts';
import type { DriverOperation, ExecutorMetrics, ProbeKind } from './executor/metrics.ts';

/** The agent's metrics port: `127.0.0.1:4281` (the manager's API is 4280). */
export const DEFAULT_AGENT_METRICS_PORT = 4281;

/**
 * The agent's Prometheus metrics: one registry per agent, prom-client's process figures, and
 * the task runners' recorder (`executor`, an `ExecutorMetrics`).
 */
export class AgentMetrics {
  readonly registry: Registry;
  readonly executor: ExecutorMetrics;
  /** Records the manager the session is attached to (`flotilla_agent_manager_session{manager}`), or none. */
  readonly attachedTo: (addr: string | undefined) => void;

  constructor() {
    const registry = newRegistry();
    this.registry = registry;
    const registers = [registry];
    const starts = new Histogram({
      name: 'flotilla_agent_task_start_duration_seconds',
      help: 'Time from a task being accepted by this agent until it runs (image pull, hooks, create and start), by driver.',
      labelNames: ['driver'],
      buckets: [...LATENCY_BUCKETS, 30, 60, 120, 300],
      registers,
    });
    const driverErrors = new Counter({
      name: 'flotilla_agent_driver_errors_total',
      help: 'Driver calls that failed, by driver and operation (prepare, start, wait, stop, remove).',
      labelNames: ['driver', 'operation'],
      registers,
    });
    const probes = new Counter({
      name: 'flotilla_agent_health_checks_total',
      help: "Probes of the agent's own health checks, by kind (http, tcp, command) and result (pass, fail).",
      labelNames: ['kind', 'result'],
      registers,
    });
    const changes = new Counter({
      name: 'flotilla_agent_health_changes_total',
      help: 'Health changes of running tasks reported to the manager, by the new health (starting, healthy, unhealthy).',
      labelNames: ['health'],
      registers,
    });
    const session = new Gauge({
      name: 'flotilla_agent_manager_session',
      help: 'The manager (host:port) this agent holds its session with: 1 while attached (the leader), no series while it holds none.',
      labelNames: ['manager'],
      registers,
    });
    this.attachedTo = (addr) => {
      session.reset();
      if (addr !== undefined) session.set({ manager: addr }, 1);
    };
    for (const kind of ['http', 'tcp', 'command'] satisfies ProbeKind[]) for (const result of ['pass', 'fail']) probes.inc({ kind, result }, 0);
    for (const health of ['starting', 'healthy', 'unhealthy'] satisfies HealthState[]) changes.inc({ health }, 0);
    this.executor = {
      taskStarted: (driver: string, seconds: number) => starts.observe({ driver }, seconds),
      driverError: (driver: string, operation: DriverOperation) => driverErrors.inc({ driver, operation }),
      healthProbe: (kind: ProbeKind, ok: boolean) => probes.inc({ kind, result: ok ? 'pass' : 'fail' }),
      healthChanged: (health: HealthState) => changes.inc({ health }),
    };
  }
}

/**
 * Serves `GET /metrics` of an agent's registry on its own port (loopback by default: a
 * scraper on the node, or `--metrics-addr` to open it). Nothing else is served there.
 */
export class AgentMetricsServer {
  readonly #registry: Registry;
  readonly #logger: Logger;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor(deps: { registry: Registry; logger: Logger }) {
    this.#registry = deps.registry;
    this.#logger = deps.logger;
    this.#server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('only GET /metrics is served here\n');
        return;
      }
      exposition(this.#registry).then(
        ({ contentType, text }) => res.writeHead(200, { 'content-type': contentType }).end(text),
        (err: unknown) => {
          this.#logger.error({ err }, 'rendering the agent metrics failed');
          res.writeHead(500).end();
        },
      );
    });
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
  }

  /** Listens on `host:port`; rejects (with the listen error, e.g. `EADDRINUSE`) when it cannot. */
  listen(address: { readonly host: string; readonly port: number }): Promise<string> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(address.port, address.host, () => {
        this.#server.off('error', reject);
        const a = this.#server.address();
        resolve(a !== null && typeof a === 'object' ? `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics` : '');
      });
    });
  }

  /** Closes the port. Idempotent. */
  async close(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }
}
