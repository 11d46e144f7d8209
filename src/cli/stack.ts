import type { Command } from 'commander';
import { STACK_LABEL, STACK_WARNING_PATH, type StackChange } from '../api/stack.ts';
import type { Service } from '../api/service.ts';
import type { Task } from '../api/task.ts';
import { isClientError } from '../client/client.ts';
import { isComposeError, formatProblem } from '../compose/errors.ts';
import { printProject } from '../compose/print.ts';
import { loadAndConvert } from '../compose/stack.ts';
import { checkFormat, type CliIo, type CommandContext } from './context.ts';
import { PartialFailure } from './each.ts';
import { UsageError } from './parse.ts';
import { gatherStackSource } from './stack-source.ts';
import { waitForStack, type WrittenService } from './stack-wait.ts';
import { table } from './format/table.ts';
import { serviceTable, taskTable } from './views.ts';
import { DEFAULT_WAIT_TIMEOUT } from './wait.ts';

/** The stack a service belongs to (its `com.docker.stack.namespace` label). */
const stackOf = (s: Service): string | undefined => (s.spec.labels as Record<string, string>)[STACK_LABEL];

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Prints a loader error — the warnings the load found first, then one line per problem — and
 * fails with exit code 1. The same lines whether the files were loaded here (`stack config`)
 * or by the manager (`stack deploy`).
 */
function composeFailure(io: CliIo, err: unknown): never {
  if (isComposeError(err)) {
    for (const w of err.warnings) io.stderr.write(`warning: ${w}\n`);
    for (const p of err.problems) io.stderr.write(`${formatProblem(p)}\n`);
    throw new PartialFailure(err.problems.length);
  }
  if (isClientError(err) && err.code === 'invalid_argument' && err.details.length > 0) {
    const problems = err.details.filter((d) => d.path !== STACK_WARNING_PATH);
    for (const d of err.details) if (d.path === STACK_WARNING_PATH) io.stderr.write(`warning: ${d.message}\n`);
    for (const d of problems) io.stderr.write(`${d.message}\n`);
    throw new PartialFailure(Math.max(problems.length, 1));
  }
  throw err;
}

const VERB: Record<StackChange['action'], string | undefined> = {
  created: 'Creating',
  updated: 'Updating',
  removed: 'Removing',
  unchanged: undefined,
  kept: undefined,
};

/**
 * Registers the `stack` command group. `stack config` runs locally: it loads and converts the
 * compose files as a deploy does on the manager (`compose/stack.ts`: same warnings, same
 * errors) and prints the resolved, normalized project. `deploy` has the server load them: dry
 * runs gather the files and variables the compose files read (`stack-source.ts`) and report a
 * broken file before anything changes, one `FILE:LINE:COL: path: what` line per problem; then
 * `POST /v1/stacks` applies the stack in one transaction. `ls`, `services`, `ps` and `rm` are
 * plain API reads and writes, filtered on the server.
 */
export function registerStackCommands(program: Command, io: CliIo, context: (cmd: Command) => CommandContext, cwd: () => string = () => process.cwd()): void {
  const stack = program.command('stack').description('Manage stacks (applications described by compose files)');
  stack
    .command('config')
    .description('Check the compose files as a deploy would and print the resolved, normalized project')
    .requiredOption('-c, --compose-file <file>', 'Compose file; repeat to merge override files in order', collect, [])
    .option('--profile <profile>', 'Enable a profile; repeat for several (also $COMPOSE_PROFILES)', collect, [])
    .option('-q, --quiet', 'Only validate; print nothing but problems')
    .action((opts: { composeFile: string[]; profile: string[]; quiet?: boolean }) => {
      if (opts.composeFile.length === 0) throw new UsageError('stack config needs at least one -c, --compose-file FILE');
      try {
        // The converter runs too, as on the manager for a deploy: the same warnings, the same refusals.
        const { project, warnings } = loadAndConvert({ files: opts.composeFile, profiles: opts.profile, env: io.env, cwd: cwd() });
        for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
        if (!opts.quiet) io.stdout.write(printProject(project));
      } catch (err) {
        composeFailure(io, err);
      }
    });

  stack
    .command('deploy')
    .alias('up')
    .description('Deploy a new stack or update an existing one')
    .argument('<stack>')
    .requiredOption('-c, --compose-file <file>', 'Compose file; repeat to merge override files in order', collect, [])
    .option('--profile <profile>', 'Enable a profile; repeat for several (also $COMPOSE_PROFILES)', collect, [])
    .option('--prune', 'Remove services that are no longer in the compose files')
    .option('--wait', 'Show progress until every service has converged (or failed: exit code 1)')
    .option('-q, --quiet', 'Suppress build output (shown only when a build fails) and, with --wait, progress')
    .option('--timeout <duration>', `With --wait: how long to wait (default ${DEFAULT_WAIT_TIMEOUT})`)
    .action(async (name: string, opts: { composeFile: string[]; profile: string[]; prune?: boolean; wait?: boolean; quiet?: boolean; timeout?: string }, cmd: Command) => {
      if (opts.composeFile.length === 0) throw new UsageError('stack deploy needs at least one -c, --compose-file FILE');
      const ctx = context(cmd);
      let result;
      let isBuildFailed: ((err: unknown) => boolean) | undefined;
      try {
        const { spec, plan } = await gatherStackSource(ctx.client, { name, files: opts.composeFile, profiles: opts.profile, env: io.env, cwd: cwd(), prune: opts.prune === true });
        // Images are built before anything is deployed: a failed build changes nothing. The
        // builder (tar-stream, .dockerignore rules) loads only for a stack that builds.
        const builds = plan.builds ?? [];
        const builder = builds.length === 0 ? undefined : await import('./stack-build.ts');
        isBuildFailed = builder?.isBuildFailed;
        const builtImages = builder === undefined ? undefined : await builder.buildStackImages(ctx.client, name, builds, {
          say: (line) => ctx.out(line),
          progress: opts.quiet ? undefined : (line) => io.stderr.write(`${line}\n`),
          fail: (line) => io.stderr.write(`${line}\n`),
        });
        result = await ctx.client.deployStack(builtImages ? { ...spec, builtImages } : spec, { prune: opts.prune === true });
      } catch (err) {
        if (isBuildFailed?.(err)) throw new PartialFailure(1);
        composeFailure(io, err);
      }
      for (const w of result.warnings) io.stderr.write(`warning: ${w}\n`);
      for (const c of result.changes) {
        const verb = VERB[c.action];
        if (verb) ctx.out(`${verb} ${c.kind} ${c.name}`);
      }
      const kept = result.changes.filter((c) => c.action === 'kept' && c.kind === 'service');
      if (kept.length > 0) io.stderr.write(`note: ${kept.map((c) => c.name).join(', ')} no longer in the compose files; kept (use --prune to remove)\n`);
      if (!opts.wait) return;
      const ops = new Map(result.changes.filter((c) => c.kind === 'service').map((c) => [c.name, c.action]));
      const written = new Map<string, WrittenService>();
      for (const s of await ctx.client.listServices({ stack: name })) {
        const op = ops.get(s.spec.name);
        if (op === undefined || op === 'kept') continue;
        written.set(s.id, { service: s, op: op === 'updated' ? 'update' : 'create' });
      }
      await waitForStack(ctx, name, written, { ...(opts.quiet ? { quiet: true } : {}), ...(opts.timeout ? { timeout: opts.timeout } : {}) });
    });

  stack
    .command('ls')
    .alias('list')
    .description('List stacks')
    .option('--format <format>', 'json: print the stacks as the API returns them')
    .action(async (opts: { format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      const stacks = await ctx.client.listStacks();
      if (format === 'json') return ctx.json(stacks);
      const services = await ctx.client.listServices();
      const rows = stacks.map((s) => [s.spec.name, String(services.filter((x) => stackOf(x) === s.spec.name).length)]);
      io.stdout.write(table(['NAME', 'SERVICES'], rows));
    });

  stack
    .command('services')
    .description('List the services of a stack')
    .argument('<stack>')
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <format>', 'json: print the services as the API returns them')
    .action(async (name: string, opts: { quiet?: boolean; format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      await ctx.client.getStack(name);
      const services = await ctx.client.listServices({ stack: name });
      if (format === 'json') return ctx.json(services);
      if (opts.quiet) return ctx.out(services.map((s) => s.id).join('\n'));
      io.stdout.write(serviceTable(services, services.length === 0 ? [] : await ctx.client.listTasks({ service: services.map((s) => s.id) })));
    });

  stack
    .command('ps')
    .description('List the tasks of a stack (a waiting task says what it waits for)')
    .argument('<stack>')
    .option('--no-trunc', 'Do not truncate output')
    .option('-q, --quiet', 'Only display task IDs')
    .option('--format <format>', 'json: print the tasks as the API returns them')
    .action(async (name: string, opts: { trunc: boolean; quiet?: boolean; format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      await ctx.client.getStack(name);
      const ids = (await ctx.client.listServices({ stack: name })).map((s) => s.id);
      const tasks = ids.length === 0 ? [] : await ctx.client.listTasks({ service: ids });
      if (format === 'json') return ctx.json(tasks);
      if (opts.quiet) return ctx.out(tasks.map((t) => t.id).join('\n'));
      io.stdout.write(taskTable(tasks.map(withWaitReason), await ctx.client.listNodes(), { noTrunc: !opts.trunc, now: io.now() }));
    });

  stack
    .command('rm')
    .alias('remove')
    .alias('down')
    .description('Remove one or more stacks and everything they own')
    .argument('<stack...>')
    .action(async (names: string[], _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      let failed = 0;
      for (const n of names) {
        try {
          await ctx.client.removeStack(n);
          ctx.out(`Removing stack ${n}`);
        } catch (err) {
          if (!isClientError(err) || err.code === 'unreachable') throw err;
          ctx.error(err.message);
          failed++;
        }
      }
      if (failed > 0) throw new PartialFailure(failed);
    });
}

/**
 * A task that has not started shows what holds it (a dependency, no suitable node) where
 * the table shows errors.
 */
function withWaitReason(t: Task): Task {
  const waiting = t.desiredState === 'running' && ['new', 'pending', 'assigned'].includes(t.status.state);
  if (!waiting || t.status.err !== undefined || t.status.message === '' || t.status.message === t.status.state) return t;
  return { ...t, status: { ...t.status, err: t.status.message } };
}
