import { Option, type Command } from 'commander';
import type { Network } from '../api/network.ts';
import { checkFormat, type CommandContext } from './context.ts';
import { forEachItem } from './each.ts';
import { table } from './format/table.ts';
import { parseLabels, UsageError } from './parse.ts';

/**
 * `network create|ls|inspect|rm`, with docker's syntax. Networks are overlay networks across
 * the cluster (`SCOPE` swarm, as docker shows them); `ingress` is the built-in one.
 */

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The flags of `network create`, as commander hands them over. */
export interface NetworkCreateFlags {
  driver?: string;
  subnet?: string;
  internal?: boolean;
  attachable?: boolean;
  opt: string[];
  label: string[];
}

/**
 * Turns `network create` flags into the spec to POST. Pure. `--opt` takes only `encrypted`
 * (or `encrypted=true`/`false`), docker's overlay option; the subnet goes to the server as
 * written, so its message says what is wrong with it.
 */
export function networkSpecFromFlags(name: string, flags: NetworkCreateFlags): Record<string, unknown> {
  const spec: Record<string, unknown> = { name };
  if (flags.driver !== undefined) spec['driver'] = flags.driver;
  if (flags.subnet !== undefined) spec['subnet'] = flags.subnet;
  if (flags.internal === true) spec['internal'] = true;
  if (flags.attachable === true) spec['attachable'] = true;
  for (const o of flags.opt) {
    const m = /^encrypted(?:=(true|false))?$/.exec(o.trim());
    if (!m) throw new UsageError(`invalid --opt "${o}": the only option is encrypted (or encrypted=true)`);
    spec['encrypted'] = m[1] !== 'false';
  }
  if (flags.label.length > 0) spec['labels'] = parseLabels(flags.label, '--label');
  return spec;
}

/** The `network ls` table: docker's columns, then the range. */
export function networkTable(networks: readonly Network[]): string {
  const rows = networks.map((n) => [n.id.slice(0, 12), n.spec.name, n.spec.driver, 'swarm', n.subnet]);
  return table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'], rows);
}

/** Registers the `network` command group. */
export function registerNetworkCommands(program: Command, context: (cmd: Command) => CommandContext): void {
  const network = program.command('network').description('Manage networks (overlay networks across the cluster)');

  network
    .command('create')
    .description('Create a network')
    .argument('<name>')
    .addOption(new Option('-d, --driver <driver>', 'Driver to manage the network').choices(['overlay']))
    .option('--subnet <cidr>', 'Subnet in CIDR format (/8 to /24); default: the next free /16 of 10.0.0.0/8')
    .option('--internal', 'Restrict external access to the network')
    .option('--attachable', 'Enable manual container attachment')
    .option('-o, --opt <option>', 'Driver options: encrypted', collect, [])
    .option('-l, --label <K=V>', 'Network labels', collect, [])
    .action(async (name: string, flags: NetworkCreateFlags, cmd: Command) => {
      const ctx = context(cmd);
      const created = await ctx.client.createNetwork(networkSpecFromFlags(name, flags) as never);
      ctx.out(created.id);
    });

  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <format>', 'json: print the networks as the API returns them')
    .action(async (opts: { quiet?: boolean; format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      const networks = (await ctx.client.listNetworks()).sort((a, b) => a.spec.name.localeCompare(b.spec.name));
      if (format === 'json') return ctx.json(networks);
      if (opts.quiet) return ctx.out(networks.map((n) => n.id).join('\n'));
      ctx.io.stdout.write(networkTable(networks));
    });

  network
    .command('inspect')
    .description('Display detailed information on one or more networks')
    .argument('<network...>')
    .option('--format <format>', 'json (the default)')
    .action(async (refs: string[], opts: { format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      checkFormat(opts.format);
      const found: unknown[] = [];
      await forEachItem(ctx, refs, async (r) => {
        found.push(await ctx.client.getNetwork(r));
      }).finally(() => {
        if (found.length > 0) ctx.json(found);
      });
    });

  network
    .command('rm')
    .alias('remove')
    .description('Remove one or more networks (refused while a service is on one)')
    .argument('<network...>')
    .action(async (refs: string[], _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      await forEachItem(ctx, refs, async (r) => {
        await ctx.client.removeNetwork(r);
        ctx.out(r);
      });
    });
}
