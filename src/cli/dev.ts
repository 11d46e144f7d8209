import { abortOnSignals, agentUsageErrors, untilAborted } from './foreground.ts';
import { mkdir } from 'node:fs/promises';
import { isIP } from 'node:net';
import { Option, type Command } from 'commander';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { agentDir, resolveDataDir, socketPath } from '../lib/paths.ts';
import type { CliIo } from './context.ts';
import { DASHBOARD_ADDR_HELP, DEFAULT_DASHBOARD_ADDR, dashboardAssets, serveDevDashboard } from './dashboard.ts';
import { METRICS_ADDR_HELP, metricsOption } from './metrics-addr.ts';
import { UsageError } from './parse.ts';
import { storeBackend, storeOptions, type StoreFlags } from './store-flag.ts';

export interface DevOptions extends StoreFlags {
  /** False with `--no-networking`: no overlay data plane on this host. */
  networking?: boolean;
  dataDir?: string;
  driver?: 'docker' | 'exec';
  /** `--metrics-addr`: where the agent serves its metrics (default 127.0.0.1:4281; `off`). */
  metricsAddr?: string;
  /** Extra TCP address for the API, `host:port` or `:port`. */
  listen?: string;
  /** `--dashboard-addr`: where the web dashboard listens (default 127.0.0.1:4280; `off`). */
  dashboardAddr?: string;
}

/** `host:port`, `:port` (all interfaces… no: loopback) or `port` → a TCP address. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65_535) throw new UsageError(`invalid --listen "${text}": expected HOST:PORT, e.g. 127.0.0.1:7420`);
  return { host: m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1], port };
}

/**
 * `--dashboard-addr`: a loopback address, or undefined for `off`. Dev's dashboard listener is
 * plain HTTP in front of the trusted API, so it never listens beyond this host.
 */
export function parseDashboardAddr(text: string | undefined): { host: string; port: number } | undefined {
  if (text === 'off') return undefined;
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec((text ?? DEFAULT_DASHBOARD_ADDR).trim());
  const port = Number(m?.[2]);
  const host = m?.[1] === undefined || m[1] === '' || m[1] === 'localhost' ? '127.0.0.1' : m[1];
  const loopback = (isIP(host) === 4 && host.startsWith('127.')) || host === '::1';
  // Port 0: any free port (tests); the printed address says which.
  if (!m || port > 65_535 || !loopback) throw new UsageError(`invalid --dashboard-addr "${text}": expected a loopback HOST:PORT (127.0.0.1:4280, [::1]:4280) or off: the dev dashboard never listens beyond this host`);
  return { host, port };
}

/**
 * `flotilla dev`: a manager and an agent in one foreground process, one node, state in the data
 * dir (or in etcd with `--store etcd://…`: the etcd backend on one host, as the crash tests
 * run it). Runs until `stop` is aborted (SIGINT/SIGTERM), then shuts down cleanly, leaving
 * task containers running so the next start adopts them.
 */
export async function runDev(options: DevOptions, io: CliIo, stop: AbortSignal, deps: { clock?: Clock; logger?: Logger } = {}): Promise<void> {
  // Imported here, not at the top: every other command would load them (see main.ts).
  const [{ NodeAgent }, { Manager }, { createLogger }] = await Promise.all([import('../agent/boot.ts'), import('../manager/manager.ts'), import('../lib/logger.ts')]);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger({ level: io.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' });
  const dataDir = resolveDataDir({ flag: options.dataDir, env: io.env });
  const listen = options.listen === undefined ? [] : [parseListen(options.listen)];
  const dashboardAddr = parseDashboardAddr(options.dashboardAddr);
  const backend = await storeBackend(options);
  const say = (s: string): void => {
    io.stderr.write(`flotilla dev: ${s}\n`);
  };

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const dockerHost = io.env['DOCKER_HOST'];
  const node = await agentUsageErrors(
    NodeAgent.create(
      { clock, logger },
      {
        dataDir: agentDir(dataDir),
        link: { transport: 'unix', socketPath: socketPath(dataDir) },
        drivers: { kind: 'detect', forced: options.driver, dockerHost },
        networking: options.networking !== false,
        ...metricsOption(options.metricsAddr),
      },
    ),
  );
  const assets = dashboardAddr ? await dashboardAssets(say) : undefined;
  const manager = new Manager(
    { clock, logger },
    { dataDir, ...(backend ? { backend } : {}), listen, localNodeId: node.nodeId, info: { mode: 'dev', drivers: node.drivers.map((d) => d.name).join(',') }, ...(assets ? { dashboard: { assets } } : {}) },
  );
  let dashboard: Awaited<ReturnType<typeof serveDevDashboard>> = undefined;
  try {
    await manager.start();
    say(`data in ${dataDir}${options.store !== undefined && options.store !== 'sqlite' ? `, cluster state in ${options.store}` : ''}`);
    say(node.driverLine);
    say(`API on ${manager.addresses.join(', ')}`);
    if (manager.dashboard && dashboardAddr) dashboard = await serveDevDashboard(manager.dashboard, dashboardAddr, { logger, say, chosen: options.dashboardAddr !== undefined });
    await node.start();
    const welcomed = await Promise.race([node.welcomed, untilAborted(stop)]);
    if (node.metricsUrl !== undefined) say(`agent metrics on ${node.metricsUrl}`);
    if (welcomed !== undefined) say(`node ${welcomed} ready; try: flotilla service create --name web flotilla/busybox:test sleep 3600`);
    await untilAborted(stop);
    say('shutting down (task containers keep running)');
  } finally {
    await dashboard?.stop();
    await node.stop();
    await manager.stop();
  }
}

/** Registers `flotilla dev`. SIGINT/SIGTERM stop it; a second signal exits at once. */
export function registerDevCommand(program: Command, io: CliIo): void {
  const dev = program
    .command('dev')
    .description('Run a manager and an agent in this process: a one-node cluster for development')
    .option('--no-networking', 'Do not run the overlay network data plane on this host (tasks on networks go to other nodes)')
    .option('--data-dir <dir>', 'State directory (default: $FLOTILLA_HOME, else ~/.flotilla)')
    .addOption(new Option('--driver <driver>', 'Task driver (default: docker when a Docker engine answers, else exec)').choices(['docker', 'exec']))
    .option('--metrics-addr <addr>', METRICS_ADDR_HELP)
    .option('--listen <addr>', 'Also serve the API on this TCP address, e.g. 127.0.0.1:7420')
    .option('--dashboard-addr <addr>', DASHBOARD_ADDR_HELP);
  storeOptions(dev).action(async (opts: DevOptions) => {
    await abortOnSignals(io, (signal) => runDev(opts, io, signal));
  });
}
