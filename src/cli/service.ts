import type { Command } from 'commander';
import type { Node } from '../api/node.ts';
import type { Service } from '../api/service.ts';
import type { DesiredState, Task } from '../api/task.ts';
import { shortId } from '../lib/ids.ts';
import { checkFormat, type CommandContext } from './context.ts';
import { forEachItem } from './each.ts';
import { UsageError } from './parse.ts';
import { registerServiceCreate } from './service-create.ts';
import { registerServiceUpdate } from './service-update.ts';
import { serviceTable, taskName, taskTable } from './views.ts';
import { addWaitOptions, waitForService, type WaitFlags } from './wait.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `--filter desired-state=running`, `--filter node=NODE`. */
function parseTaskFilters(filters: readonly string[]): { desiredState?: DesiredState; node?: string } {
  const out: { desiredState?: DesiredState; node?: string } = {};
  for (const f of filters) {
    const eq = f.indexOf('=');
    const key = eq < 0 ? f : f.slice(0, eq);
    const value = eq < 0 ? '' : f.slice(eq + 1);
    if (key === 'desired-state') {
      if (!['running', 'shutdown', 'remove', 'accepted'].includes(value)) {
        throw new UsageError(`invalid filter "${f}": desired-state must be running, shutdown or remove`);
      }
      out.desiredState = (value === 'accepted' ? 'running' : value) as DesiredState;
    } else if (key === 'node') {
      out.node = value;
    } else {
      throw new UsageError(`invalid filter "${f}": supported filters are desired-state=STATE and node=NODE`);
    }
  }
  return out;
}

/** Registers the `service` command group. */
export function registerServiceCommands(program: Command, context: (cmd: Command) => CommandContext): void {
  const service = program.command('service').description('Manage services');
  registerServiceCreate(service, context);
  registerServiceUpdate(service, context);

  service
    .command('ls')
    .alias('list')
    .description('List services')
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <format>', 'json: print the services as the API returns them')
    .action(async (opts: { quiet?: boolean; format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      const services = await ctx.client.listServices();
      if (format === 'json') return ctx.json(services);
      if (opts.quiet) return ctx.out(services.map((s) => s.id).join('\n'));
      const tasks = await ctx.client.listTasks();
      ctx.io.stdout.write(serviceTable(services, tasks));
    });

  service
    .command('ps')
    .description('List the tasks of one or more services')
    .argument('<service...>')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display task IDs')
    .option('-f, --filter <filter>', 'Filter output (desired-state=running, node=NODE)', collect, [])
    .option('--format <format>', 'json: print the tasks as the API returns them')
    .action(async (names: string[], opts: { trunc: boolean; quiet?: boolean; filter: string[]; format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      const filter = parseTaskFilters(opts.filter);
      const tasks: Task[] = [];
      await forEachItem(ctx, names, async (name) => {
        tasks.push(...(await ctx.client.listTasks({ service: name, ...filter })));
      });
      if (format === 'json') return ctx.json(tasks);
      if (opts.quiet) return ctx.out(tasks.map((t) => t.id).join('\n'));
      const nodes = await ctx.client.listNodes();
      ctx.io.stdout.write(taskTable(tasks, nodes, { noTrunc: !opts.trunc, now: ctx.io.now() }));
    });

  service
    .command('inspect')
    .description('Display detailed information on one or more services')
    .argument('<service...>')
    .option('--format <format>', 'json (the default)')
    .action(async (names: string[], opts: { format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      checkFormat(opts.format);
      const found: unknown[] = [];
      const all = forEachItem(ctx, names, async (name) => {
        found.push(await ctx.client.getService(name));
      });
      await all.finally(() => {
        if (found.length > 0) ctx.json(found);
      });
    });

  service
    .command('logs')
    .description("Fetch the logs of a service's tasks")
    .argument('<service>')
    .option('-f, --follow', 'Follow log output')
    .option('-n, --tail <n>', 'Number of lines to show from the end of each task’s log')
    .option('--no-task-ids', 'Do not include task IDs in the output')
    .action(async (name: string, opts: { follow?: boolean; tail?: string; taskIds: boolean }, cmd: Command) => {
      const ctx = context(cmd);
      let tail: number | undefined;
      if (opts.tail !== undefined && opts.tail !== 'all') {
        if (!/^\d+$/.test(opts.tail)) throw new UsageError(`invalid --tail "${opts.tail}": expected a number of lines or "all"`);
        tail = Number(opts.tail);
      }
      const nodes = await ctx.client.listNodes();
      const hostnames = new Map(nodes.map((n: Node) => [n.id, n.description.hostname]));
      const svc = await ctx.client.getService(name);
      const logOpts = { follow: opts.follow ?? false, ...(tail !== undefined ? { tail } : {}), ...(ctx.io.signal ? { signal: ctx.io.signal } : {}) };
      try {
        for await (const entry of ctx.client.serviceLogs(svc.id, logOpts)) {
          if ('error' in entry) {
            ctx.error(entry.error.message);
            continue;
          }
          const task = { serviceName: svc.spec.name, id: entry.taskId, ...(entry.slot !== undefined ? { slot: entry.slot } : {}), ...(entry.nodeId !== undefined ? { nodeId: entry.nodeId } : {}) } as Task;
          const node = entry.nodeId === undefined ? '' : `@${hostnames.get(entry.nodeId) ?? shortId(entry.nodeId)}`;
          const prefix = `${taskName(task)}${opts.taskIds ? `.${shortId(entry.taskId)}` : ''}${node}`;
          (entry.stream === 'stderr' ? ctx.io.stderr : ctx.io.stdout).write(`${prefix}    | ${entry.line}\n`);
        }
      } catch (err) {
        if (ctx.io.signal?.aborted) return;
        throw err;
      }
    });

  const scale = service
    .command('scale')
    .description('Scale one or more replicated services')
    .argument('<service=replicas...>');
  addWaitOptions(scale).action(async (pairs: string[], opts: WaitFlags, cmd: Command) => {
    const ctx = context(cmd);
    const parsed = pairs.map((p) => {
      const m = /^(.+)=(-?\d+)$/.exec(p);
      if (!m || m[1] === undefined) throw new UsageError(`invalid scale "${p}": expected SERVICE=REPLICAS, e.g. web=3`);
      return { name: m[1], replicas: Number(m[2]) };
    });
    const scaled: Service[] = [];
    await forEachItem(ctx, parsed, async (p) => {
      scaled.push(await ctx.client.scaleService(p.name, p.replicas));
      ctx.out(`${p.name} scaled to ${p.replicas}`);
    }).finally(async () => {
      if (opts.detach === true) return;
      for (const s of scaled) await waitForService(ctx, s, 'scale', opts);
    });
  });

  service
    .command('rm')
    .alias('remove')
    .description('Remove one or more services')
    .argument('<service...>')
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      await forEachItem(ctx, names, async (name) => {
        await ctx.client.removeService(name);
        ctx.out(name);
      });
    });
}
