import type { Command } from 'commander';
import { managerStatus } from '../api/manager-status.ts';
import type { ManagerEntry } from '../api/managers.ts';
import type { Node, NodeAvailability, NodeRole, NodeUpdate } from '../api/node.ts';
import { isClientError } from '../client/client.ts';
import { Option } from 'commander';
import { checkFormat, type CommandContext } from './context.ts';
import { parseLabels } from './parse.ts';
import { forEachItem } from './each.ts';
import { nodeTable } from './views.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The live managers, or none from a manager that predates `GET /v1/managers` (404). */
async function liveManagers(ctx: CommandContext): Promise<readonly ManagerEntry[]> {
  try {
    return (await ctx.client.listManagers()).managers;
  } catch (err) {
    if (isClientError(err) && err.status === 404) return [];
    throw err;
  }
}

/**
 * A manager node as `node inspect` prints it: the node as stored, plus `managerStatus`
 * (computed now from the live managers, as Docker's `ManagerStatus`): whether it leads, whether
 * a live manager runs beside it, and that manager's address.
 */
function withManagerStatus(node: Node, managers: readonly ManagerEntry[]): Node & { managerStatus: { leader: boolean; reachability: 'reachable' | 'unreachable'; addr?: string } } {
  const m = managers.find((x) => x.nodeId === node.id);
  const status = managerStatus(node, managers);
  return { ...node, managerStatus: { leader: status === 'Leader', reachability: m ? 'reachable' : 'unreachable', ...(m ? { addr: m.addr } : {}) } };
}

/** Registers the `node` command group: ls, inspect, update, rm, promote, demote. */
export function registerNodeCommands(program: Command, context: (cmd: Command) => CommandContext): void {
  const node = program.command('node').description('Manage nodes');

  node
    .command('ls')
    .alias('list')
    .description('List nodes')
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <format>', 'json: print the nodes as the API returns them')
    .action(async (opts: { quiet?: boolean; format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      const nodes = await ctx.client.listNodes();
      if (format === 'json') return ctx.json(nodes);
      if (opts.quiet) return ctx.out(nodes.map((n) => n.id).join('\n'));
      const running = new Map<string, number>();
      for (const t of await ctx.client.listTasks({ desiredState: 'running' })) {
        if (t.nodeId !== undefined && t.status.state === 'running') running.set(t.nodeId, (running.get(t.nodeId) ?? 0) + 1);
      }
      ctx.io.stdout.write(nodeTable(nodes, running, await liveManagers(ctx)));
    });

  node
    .command('inspect')
    .description('Display detailed information on one or more nodes')
    .argument('<node...>')
    .option('--format <format>', 'json (the default)')
    .action(async (names: string[], opts: { format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      checkFormat(opts.format);
      const found: unknown[] = [];
      let managers: readonly ManagerEntry[] | undefined;
      await forEachItem(ctx, names, async (n) => {
        const node = await ctx.client.getNode(n);
        if (node.spec.role !== 'manager') return void found.push(node);
        managers ??= await liveManagers(ctx);
        found.push(withManagerStatus(node, managers));
      }).finally(() => {
        if (found.length > 0) ctx.json(found);
      });
    });

  node
    .command('update')
    .description('Update a node')
    .argument('<node>')
    .addOption(new Option('--availability <availability>', 'Availability of the node').choices(['active', 'pause', 'drain']))
    .addOption(new Option('--role <role>', 'Role of the node').choices(['worker', 'manager']))
    .option('--label-add <K=V>', 'Add or update a node label', collect, [])
    .option('--label-rm <K>', 'Remove a node label if it exists', collect, [])
    .action(async (name: string, opts: { availability?: string; role?: string; labelAdd: string[]; labelRm: string[] }, cmd: Command) => {
      const ctx = context(cmd);
      const update: NodeUpdate = {};
      if (opts.availability !== undefined) update.availability = opts.availability as NodeAvailability;
      if (opts.role !== undefined) update.role = opts.role as NodeRole;
      if (opts.labelAdd.length > 0) update.labelsAdd = parseLabels(opts.labelAdd, '--label-add');
      if (opts.labelRm.length > 0) update.labelsRemove = opts.labelRm;
      await ctx.client.updateNode(name, update);
      ctx.out(name);
    });

  node
    .command('rm')
    .alias('remove')
    .description('Remove one or more nodes from the cluster and revoke their certificates')
    .argument('<node...>')
    .option('-f, --force', 'Remove a node even while it is up (its agent is cut off)')
    .action(async (names: string[], opts: { force?: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      await forEachItem(ctx, names, async (n) => {
        await ctx.client.removeNode(n, { force: opts.force === true });
        ctx.out(n);
      });
    });

  for (const [verb, role] of [
    ['promote', 'manager'],
    ['demote', 'worker'],
  ] as const) {
    node
      .command(verb)
      .description(`${verb === 'promote' ? 'Promote' : 'Demote'} one or more nodes to ${role}`)
      .argument('<node...>')
      .action(async (names: string[], _opts: unknown, cmd: Command) => {
        const ctx = context(cmd);
        await forEachItem(ctx, names, async (n) => {
          await ctx.client.updateNode(n, { role });
          ctx.out(`Node ${n} ${verb}d to ${role}.`);
        });
        // The role is the node's; a manager process is `flotilla server` on that host.
        if (verb === 'promote') ctx.io.stderr.write('flotilla: to run a manager on a promoted host, start `flotilla server` there with the manager token (`flotilla token manager` prints the command)\n');
      });
  }
}
