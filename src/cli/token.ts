import { Argument, type Command } from 'commander';
import type { CommandContext } from './context.ts';

/** Where a joining node should dial: the https target's address, else what the manager advertises. */
async function joinAddress(ctx: CommandContext, info: Record<string, string> | undefined): Promise<string> {
  const t = ctx.client.target;
  if ('url' in t && t.url.startsWith('https:')) return new URL(t.url).host;
  return info?.['advertise'] ?? 'MANAGER:4280';
}

/**
 * What to run on a host to add it: a worker joins with `flotilla join`; a manager is `flotilla
 * server` on the cluster's shared store with the manager token (it unwraps the cluster's keys
 * with it). On a cluster whose state is one manager's SQLite file there is no second manager:
 * the manager token then only joins a node as a manager node, as before.
 */
async function joinHelp(ctx: CommandContext, role: 'worker' | 'manager', token: string): Promise<string> {
  const info = (await ctx.client.info().catch(() => undefined))?.manager;
  const store = info?.['store'];
  if (role === 'manager' && store !== undefined) {
    return (
      `To add a manager to this cluster, run on it (with the same --etcd-cacert/--etcd-cert/--etcd-key as this manager):\n\n` +
      `    flotilla server --store ${store} --join-token ${token} --advertise-addr ADDRESS\n`
    );
  }
  const join = `To add a ${role} to this cluster, run on it:\n\n    flotilla join --token ${token} ${await joinAddress(ctx, info)}\n`;
  if (role !== 'manager') return join;
  return `${join}\nThis cluster keeps its state in one manager's SQLite store; more managers need a shared one: flotilla server --store etcd://HOST:2379.\n`;
}

/**
 * Registers `flotilla token worker|manager [--rotate] [-q]` (Swarm's `join-token`): shows the
 * join command for a role, or rotates its token first (joined nodes are not affected).
 */
export function registerTokenCommand(program: Command, context: (cmd: Command) => CommandContext): void {
  program
    .command('token')
    .description('Show or rotate the token a node joins with')
    .addArgument(new Argument('<role>', 'worker or manager').choices(['worker', 'manager']))
    .option('--rotate', 'Replace the token; nodes and managers that already joined keep working')
    .option('-q, --quiet', 'Only print the token')
    .action(async (role: 'worker' | 'manager', opts: { rotate?: boolean; quiet?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const tokens = opts.rotate ? await ctx.client.rotateJoinToken(role) : await ctx.client.joinTokens();
      const token = tokens[role];
      if (opts.rotate) ctx.io.stderr.write(`flotilla: rotated the ${role} join token\n`);
      if (opts.quiet) return ctx.out(token);
      ctx.out(await joinHelp(ctx, role, token));
    });
}
