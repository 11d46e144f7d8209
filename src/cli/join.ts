import { Option, type Command } from 'commander';
import { parseManagerAddress } from '../agent/manager-address.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/logger.ts';
import { resolveDataDir } from '../lib/paths.ts';
import type { CliIo } from './context.ts';
import { METRICS_ADDR_HELP, metricsOption } from './metrics-addr.ts';
import { abortOnSignals, agentUsageErrors, untilAborted } from './foreground.ts';
import { JOIN_TOKEN_ENV, resolveJoinToken } from './token-source.ts';

export interface JoinOptions {
  /** False with `--no-networking`: no overlay data plane on this host. */
  networking?: boolean;
  token?: string;
  /** `--token-file`: a file holding the join token (instead of `--token`, seen in `ps`). */
  tokenFile?: string;
  dataDir?: string;
  dockerHost?: string;
  driver?: 'docker' | 'exec';
  /** `--metrics-addr`: where the agent serves its metrics (default 127.0.0.1:4281; `off`). */
  metricsAddr?: string;
}

/**
 * `flotilla join`: this host becomes a node of the cluster at `manager`. The first start joins
 * with the token (checking the manager's CA against it first); later starts reuse the stored
 * credential. Runs the agent in the foreground until `stop` is aborted; tasks keep running.
 */
export async function runJoin(manager: string, options: JoinOptions, io: CliIo, stop: AbortSignal, deps: { clock?: Clock; logger?: Logger } = {}): Promise<void> {
  // Imported here, not at the top: every other command would load them (see main.ts).
  const [{ NodeAgent }, { createLogger }] = await Promise.all([import('../agent/boot.ts'), import('../lib/logger.ts')]);
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? createLogger({ level: io.env['FLOTILLA_LOG_LEVEL'] ?? 'warn' });
  const say = (s: string): void => {
    io.stderr.write(`flotilla join: ${s}\n`);
  };
  // The token from --token, --token-file or FLOTILLA_JOIN_TOKEN.
  const token = await resolveJoinToken({ flag: '--token', fileFlag: '--token-file', envVar: JOIN_TOKEN_ENV }, { token: options.token, file: options.tokenFile }, io.env);
  const addr = parseManagerAddress(manager);
  const dataDir = resolveDataDir({ flag: options.dataDir, env: io.env });
  const node = await agentUsageErrors(
    NodeAgent.create(
      { clock, logger },
      {
        dataDir,
        link: { transport: 'wss', manager: addr, token: token?.token },
        drivers: { kind: 'detect', forced: options.driver, dockerHost: options.dockerHost ?? io.env['DOCKER_HOST'] },
        networking: options.networking !== false,
        ...metricsOption(options.metricsAddr),
        say,
      },
    ),
  );
  await node.start();
  try {
    const welcomed = await Promise.race([node.welcomed, untilAborted(stop)]);
    if (welcomed !== undefined) say(`node ${welcomed} is connected to the manager; stop with Ctrl-C (tasks keep running)`);
    await untilAborted(stop);
    say('shutting down (tasks keep running)');
  } finally {
    await node.stop();
  }
}

/** Registers `flotilla join`. */
export function registerJoinCommand(program: Command, io: CliIo): void {
  program
    .command('join')
    .description('Join this host to a cluster as a node and run its agent (foreground)')
    .argument('<manager>', 'The manager, HOST[:PORT] (port 4280 by default), as `flotilla server` printed it')
    .option('--token <token>', 'Join token (`flotilla token worker`); needed only the first time')
    .option('--token-file <file>', `File holding the join token (instead of --token, which shows in ps); also $${JOIN_TOKEN_ENV}`)
    .option('--no-networking', 'Do not run the overlay network data plane on this host (tasks on networks go to other nodes)')
    .option('--data-dir <dir>', 'State directory of this node (default: $FLOTILLA_HOME, else ~/.flotilla)')
    .option('--docker-host <host>', 'Docker engine to run tasks on (default: $DOCKER_HOST, else /var/run/docker.sock)')
    .addOption(new Option('--driver <driver>', 'Task driver (default: docker when a Docker engine answers, else exec)').choices(['docker', 'exec']))
    .option('--metrics-addr <addr>', METRICS_ADDR_HELP)
    .action(async (manager: string, opts: JoinOptions) => {
      await abortOnSignals(io, (signal) => runJoin(manager, opts, io, signal));
    });
}
