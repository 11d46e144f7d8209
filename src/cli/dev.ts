import { abortOnSignals } from './foreground.ts';
import { mkdir } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { AGENT_SESSION_PATH } from '../api/agent-protocol.ts';
import { Agent } from '../agent/agent.ts';
import type { Driver } from '../agent/drivers/driver.ts';
import { createDrivers, fingerprintDrivers, type DriverName } from '../agent/drivers/registry.ts';
import { ensureNodeId } from '../agent/node-id.ts';
import { connectWebSocket } from '../agent/transport/ws.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { newId } from '../lib/ids.ts';
import { createLogger, type Logger } from '../lib/logger.ts';
import { agentDir, resolveDataDir, socketPath } from '../lib/paths.ts';
import { Manager } from '../manager/manager.ts';
import type { CliIo } from './context.ts';
import { UsageError } from './parse.ts';

export interface DevOptions {
  dataDir?: string;
  driver?: 'docker' | 'exec';
  /** Extra TCP address for the API, `host:port` or `:port`. */
  listen?: string;
}

/** `host:port`, `:port` (all interfaces… no: loopback) or `port` → a TCP address. */
export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65_535) throw new UsageError(`invalid --listen "${text}": expected HOST:PORT, e.g. 127.0.0.1:7420`);
  return { host: m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1], port };
}

/**
 * Picks the node's drivers. Forced by `--driver`; otherwise docker when an engine answers (the
 * exec driver is offered too when it can run here), else exec. Returns the drivers to give
 * the agent and one line saying what was chosen and why.
 */
export async function chooseDrivers(
  forced: DevOptions['driver'],
  nodeId: string,
  dir: string,
  clock: Clock,
  env: CliIo['env'],
): Promise<{ drivers: Driver[]; line: string }> {
  const dockerHost = env['DOCKER_HOST'];
  const all = createDrivers({ nodeId, dataDir: dir, clock, ...(dockerHost ? { dockerHost } : {}), ...(forced ? { only: [forced] } : {}) });
  const fps = await fingerprintDrivers(all, clock, 5_000);
  const pick = (names: DriverName[]): Driver[] => names.flatMap((n) => (all.get(n) ? [all.get(n)!] : []));
  const closeOthers = async (keep: Driver[]): Promise<void> => {
    await Promise.all([...all.values()].filter((d) => !keep.includes(d)).map((d) => d.close()));
  };
  const docker = fps.get('docker');
  const exec = fps.get('exec');
  const engine = docker?.engine ? `${docker.engine.name} ${docker.engine.version}` : 'Docker';
  if (forced) {
    const fp = fps.get(forced);
    if (!fp?.available) throw new UsageError(`the ${forced} driver cannot run here: ${fp?.reason ?? 'unknown reason'}`);
    return { drivers: pick([forced]), line: `driver: ${forced}${forced === 'docker' ? ` (${engine})` : ''}, as asked` };
  }
  if (docker?.available) {
    const names: DriverName[] = exec?.available ? ['docker', 'exec'] : ['docker'];
    const drivers = pick(names);
    await closeOthers(drivers);
    return { drivers, line: `driver: docker (${engine} answers)${exec?.available ? '; exec also available' : ''}` };
  }
  if (exec?.available) {
    const drivers = pick(['exec']);
    await closeOthers(drivers);
    return { drivers, line: `driver: exec (no Docker engine: ${docker?.reason ?? 'not found'})` };
  }
  await closeOthers([]);
  throw new UsageError(`no driver can run tasks here: docker: ${docker?.reason ?? '?'}; exec: ${exec?.reason ?? '?'}`);
}

/**
 * `flotilla dev`: a manager and an agent in one foreground process, one node, state in the data
 * dir. Runs until `stop` is aborted (SIGINT/SIGTERM), then shuts down cleanly, leaving task
 * containers running so the next start adopts them.
 */
export async function runDev(options: DevOptions, io: CliIo, stop: AbortSignal, deps: { clock?: Clock; logger?: Logger } = {}): Promise<void> {
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger({ level: io.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' });
  const dataDir = resolveDataDir({ flag: options.dataDir, env: io.env });
  const listen = options.listen === undefined ? [] : [parseListen(options.listen)];
  const say = (s: string): void => {
    io.stderr.write(`flotilla dev: ${s}\n`);
  };

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const nodeDir = agentDir(dataDir);
  const nodeId = await ensureNodeId(nodeDir, newId);
  const { drivers, line } = await chooseDrivers(options.driver, nodeId, nodeDir, clock, io.env);

  const manager = new Manager({ clock, logger }, { dataDir, listen, localNodeId: nodeId, info: { mode: 'dev', drivers: drivers.map((d) => d.name).join(',') } });
  const sock = socketPath(dataDir);
  const agent = new Agent({
    clock,
    logger,
    drivers,
    dataDir: nodeDir,
    connect: (signal) => connectWebSocket(`ws+unix://${sock}:${AGENT_SESSION_PATH}`, { signal }),
  });
  try {
    await manager.start();
    say(`data in ${dataDir}`);
    say(line);
    say(`API on ${manager.addresses.join(', ')}`);
    await agent.start();
    const welcomed = await Promise.race([agent.welcomed(), abortPromise(stop)]);
    if (welcomed !== undefined) say(`node ${welcomed} ready; try: flotilla service create --name web flotilla/busybox:test sleep 3600`);
    await abortPromise(stop);
    say('shutting down (task containers keep running)');
  } finally {
    await agent.stop();
    await Promise.all(drivers.map((d) => d.close().catch(() => {})));
    await manager.stop();
  }
}

function abortPromise(signal: AbortSignal): Promise<undefined> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(undefined);
    else signal.addEventListener('abort', () => resolve(undefined), { once: true });
  });
}

/** Registers `flotilla dev`. SIGINT/SIGTERM stop it; a second signal exits at once. */
export function registerDevCommand(program: Command, io: CliIo): void {
  program
    .command('dev')
    .description('Run a manager and an agent in this process: a one-node cluster for development')
    .option('--data-dir <dir>', 'State directory (default: $FLOTILLA_HOME, else ~/.flotilla)')
    .addOption(new Option('--driver <driver>', 'Task driver (default: docker when a Docker engine answers, else exec)').choices(['docker', 'exec']))
    .option('--listen <addr>', 'Also serve the API on this TCP address, e.g. 127.0.0.1:7420')
    .action(async (opts: DevOptions) => {
      await abortOnSignals(io, (signal) => runDev(opts, io, signal));
    });
}
