import { Argument, type Command } from 'commander';
import type { CommandContext } from './context.ts';

/** Where a joining node should dial: the https target's address, else what the manager advertises. */
async function joinAddress(ctx: CommandContext): Promise<string> {
  const t = ctx.client.target;
  if ('url' in t && t.url.startsWith('https:')) return new URL(t.url).host;
  const info = await ctx.client.info().catch(() => undefined);
  return info?.manager['advertise'] ?? 'MANAGER:4280';
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
    .option('--rotate', 'Replace the token; nodes that already joined keep working')
    .option('-q, --quiet', 'Only print the token')
    .action(async (role: 'worker' | 'manager', opts: { rotate?: boolean; quiet?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      const tokens = opts.rotate ? await ctx.client.rotateJoinToken(role) : await ctx.client.joinTokens();
      const token = tokens[role];
      if (opts.rotate) ctx.io.stderr.write(`flotilla: rotated the ${role} join token\n`);
      if (opts.quiet) return ctx.out(token);
      ctx.out(`To add a ${role} to this cluster, run on it:\n\n    flotilla join --token ${token} ${await joinAddress(ctx)}\n`);
    });
}
