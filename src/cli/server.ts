import { mkdir } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { isIP } from 'node:net';
import { Option, type Command } from 'commander';
import type { NodeAgent } from '../agent/boot.ts';
import { DEFAULT_MANAGER_PORT, formatManagerAddress, isJoinError, parseManagerAddress, type ManagerAddress } from '../agent/manager-address.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { agentDir, resolveDataDir } from '../lib/paths.ts';
import { dashboardAssets } from './dashboard.ts';
import type { CliIo } from './context.ts';
import { METRICS_ADDR_HELP, metricsOption } from './metrics-addr.ts';
import { abortOnSignals, agentUsageErrors, untilAborted } from './foreground.ts';
import { parseDuration, UsageError } from './parse.ts';
import { storeBackend, storeLeadership, type StoreFlags } from './store-flag.ts';
import { MANAGER_TOKEN_ENV, resolveJoinToken } from './token-source.ts';

export interface ServerOptions extends StoreFlags {
  /** False with `--no-networking`: no overlay data plane on this host. */
  networking?: boolean;
  advertiseAddr?: string;
  listenAddr?: string;
  dataDir?: string;
  /** commander's `--no-agent`: false when given. */
  agent?: boolean;
  certLifetime?: string;
  dockerHost?: string;
  driver?: 'docker' | 'exec';
  /** `--metrics-addr`: where the agent serves its metrics (default 127.0.0.1:4281; `off`). */
  metricsAddr?: string;
  /** `--join-token-file`: a file holding the manager join token (instead of `--join-token`, seen in `ps`). */
  joinTokenFile?: string;
}

/** `--listen-addr HOST[:PORT]` (default 0.0.0.0:4280). */
export function parseListenAddr(text: string | undefined): ManagerAddress {
  if (text === undefined) return { host: '0.0.0.0', port: DEFAULT_MANAGER_PORT };
  try {
    return parseManagerAddress(text);
  } catch {
    throw new UsageError(`invalid --listen-addr "${text}": expected HOST[:PORT], e.g. 0.0.0.0:${DEFAULT_MANAGER_PORT}`);
  }
}

/** `90d`, `12h`, `30s`, `1m30s` → milliseconds. */
export function parseLifetime(text: string): number {
  const days = /^(\d+)d$/.exec(text.trim());
  const ms = days ? Number(days[1]) * 86_400_000 : parseDuration(text, '--cert-lifetime');
  if (ms < 1_000) throw new UsageError(`invalid --cert-lifetime "${text}": at least 1s (e.g. 90d, 12h, 30s)`);
  return ms;
}

/**
 * The address other hosts reach this manager at: `--advertise-addr`, else the listen host
 * when it is one address, else the host's only non-loopback IPv4 address.
 */
export function chooseAdvertiseAddr(flag: string | undefined, listen: ManagerAddress, interfaces = networkInterfaces()): string {
  if (flag !== undefined) {
    const host = flag.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    if (host === '' || (isIP(host) === 0 && !/^[a-zA-Z0-9.-]+$/.test(host))) throw new UsageError(`invalid --advertise-addr "${flag}": expected an IP address or host name`);
    return host;
  }
  if (listen.host !== '0.0.0.0' && listen.host !== '::') return listen.host;
  const candidates = Object.values(interfaces)
    .flat()
    .filter((i) => i !== undefined && i.family === 'IPv4' && !i.internal)
    .map((i) => i!.address);
  const unique = [...new Set(candidates)];
  if (unique.length === 1 && unique[0] !== undefined) return unique[0];
  if (unique.length === 0) throw new UsageError('no network address to advertise: pass --advertise-addr (127.0.0.1 for a one-host cluster)');
  throw new UsageError(`this host has several addresses (${unique.join(', ')}): choose the one other hosts reach with --advertise-addr`);
}

/**
 * `flotilla server`: a manager (HTTPS API and agent sessions with mutual TLS on
 * `--listen-addr`, the cluster CA, join tokens) and, unless `--no-agent`, this host's own agent,
 * which joins through the normal flow with the manager token. Foreground until `stop`.
 */
export async function runServer(options: ServerOptions, io: CliIo, stop: AbortSignal, deps: { clock?: Clock; logger?: Logger } = {}): Promise<void> {
  // Imported here, not at the top: every other command would load them (see main.ts).
  const [{ NodeAgent }, { Manager }, { createLogger }] = await Promise.all([import('../agent/boot.ts'), import('../manager/manager.ts'), import('../lib/logger.ts')]);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger({ level: io.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' });
  // Checked before anything starts: a bad flag is a usage error with nothing running.
  const agentMetrics = metricsOption(options.metricsAddr);
  const say = (s: string): void => {
    io.stderr.write(`flotilla server: ${s}\n`);
  };
  const dataDir = resolveDataDir({ flag: options.dataDir, env: io.env });
  const listen = parseListenAddr(options.listenAddr);
  const advertiseAddr = chooseAdvertiseAddr(options.advertiseAddr, listen);
  const certLifetimeMs = options.certLifetime === undefined ? undefined : parseLifetime(options.certLifetime);
  const advertised: ManagerAddress = { host: advertiseAddr, port: listen.port };
  // The token from --join-token, --join-token-file or FLOTILLA_MANAGER_TOKEN (not join's FLOTILLA_JOIN_TOKEN).
  const joinToken = await resolveJoinToken({ flag: '--join-token', fileFlag: '--join-token-file', envVar: MANAGER_TOKEN_ENV }, { token: options.joinToken, file: options.joinTokenFile }, io.env);
  const { joinToken: _flag, ...rest } = options;
  const backend = await storeBackend({ ...rest, ...(joinToken ? { joinToken: joinToken.token, joinTokenFrom: joinToken.from } : {}) });
  const leadership = await storeLeadership(options);

  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const assets = await dashboardAssets(say);
  const manager = new Manager(
    { clock, logger },
    {
      dataDir,
      ...(backend ? { backend } : {}),
      ...(leadership ? { leadership } : {}),
      tls: { listen, advertiseAddr, ...(certLifetimeMs === undefined ? {} : { certLifetimeMs }), ...(joinToken ? { joinToken: joinToken.token } : {}) },
      info: {
        mode: 'server',
        advertise: formatManagerAddress({ host: advertiseAddr, port: listen.port }),
        // What `flotilla token manager` prints another manager's command line with.
        ...(backend && options.store !== undefined ? { store: options.store } : {}),
      },
      ...(assets ? { dashboard: { assets } } : {}),
    },
  );
  let node: NodeAgent | undefined;
  try {
    await manager.start();
    say(`data in ${dataDir}${options.store !== undefined && options.store !== 'sqlite' ? `, cluster state in ${options.store}` : ''}`);
    say(`API on ${manager.addresses.join(', ')}`);
    if (assets) say(`dashboard on https://${formatManagerAddress(advertised)}/ui/ (sign in with the admin token: ${join(dataDir, 'admin', 'token')})`);
    say(`admin credential in ${join(dataDir, 'admin')}; on another host: flotilla context import NAME context.json (a copy of ${join(dataDir, 'admin', 'context.json')})`);
    io.stdout.write(`To add a worker to this cluster, run on it:\n\n    flotilla join --token ${manager.joinTokens().worker} ${formatManagerAddress(advertised)}\n\n`);
    if (options.agent !== false) {
      try {
        node = await agentUsageErrors(
          NodeAgent.create(
            { clock, logger },
            {
              dataDir: agentDir(dataDir),
              link: { transport: 'wss', manager: advertised, token: manager.joinTokens().manager },
              drivers: { kind: 'detect', forced: options.driver, dockerHost: options.dockerHost ?? io.env['DOCKER_HOST'] },
              networking: options.networking !== false,
              ...agentMetrics,
              say,
            },
          ),
        );
        manager.setLocalNode(node.nodeId);
        await node.start();
      } catch (err) {
        if (isJoinError(err)) throw new Error(`this host's agent could not join its own manager at ${formatManagerAddress(advertised)}: ${err.message}`, { cause: err });
        throw err;
      }
      const welcomed = await Promise.race([node.welcomed, untilAborted(stop)]);
      if (welcomed !== undefined) say(`node ${welcomed} (this host) ready`);
    }
    await untilAborted(stop);
    say('shutting down (tasks keep running)');
  } finally {
    await node?.stop();
    await manager.stop();
  }
}

/** Registers `flotilla server`. */
export function registerServerCommand(program: Command, io: CliIo): void {
  program
    .command('server')
    .description('Run a cluster manager (and an agent for this host): creates the cluster on first start')
    .option('--advertise-addr <ip>', 'Address other hosts reach this manager at (default: the listen address, else the host’s only IPv4 address)')
    .option('--listen-addr <host[:port]>', `Address of the HTTPS API and agent sessions (default: 0.0.0.0:${DEFAULT_MANAGER_PORT})`)
    .option('--no-networking', 'Do not run the overlay network data plane on this host (tasks on networks go to other nodes)')
    .option('--data-dir <dir>', 'State directory (default: $FLOTILLA_HOME, else ~/.flotilla)')
    .option('--store <url>', 'Cluster state store: etcd://HOST:2379[,HOST:2379…][/prefix] (default: embedded SQLite in the data dir)')
    .option('--etcd-cacert <file>', 'CA certificate that signed etcd’s (TLS to etcd)')
    .option('--etcd-cert <file>', 'Client certificate for etcd (with --etcd-key)')
    .option('--etcd-key <file>', 'Key of the etcd client certificate')
    .option('--join-token <token>', 'Manager join token: start another manager of the cluster already in the --store (`flotilla token manager` prints it)')
    .option('--join-token-file <file>', `File holding the manager join token (instead of --join-token, which shows in ps); also $${MANAGER_TOKEN_ENV}`)
    .option('--no-agent', 'Do not run an agent on this host (a manager-only node)')
    .option('--cert-lifetime <duration>', 'Lifetime of node certificates, e.g. 90d (the default), 12h, 30s')
    .option('--docker-host <host>', 'Docker engine of this host’s agent (default: $DOCKER_HOST, else /var/run/docker.sock)')
    .addOption(new Option('--driver <driver>', 'Task driver of this host’s agent (default: docker when a Docker engine answers, else exec)').choices(['docker', 'exec']))
    .option('--metrics-addr <addr>', METRICS_ADDR_HELP)
    .action(async (opts: ServerOptions) => {
      await abortOnSignals(io, (signal) => runServer(opts, io, signal));
    });
}
