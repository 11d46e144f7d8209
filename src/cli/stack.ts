import type { Command } from 'commander';
import { isComposeError, formatProblem } from '../compose/errors.ts';
import { loadProject } from '../compose/load.ts';
import { printProject } from '../compose/print.ts';
import type { CliIo } from './context.ts';
import { PartialFailure } from './each.ts';
import { UsageError } from './parse.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Registers the `stack` command group. `stack config` runs locally: it loads the compose
 * files (interpolation, `.env`, overrides, `extends`, profiles) and prints the resolved,
 * normalized project as YAML, or one line per problem (`FILE:LINE:COL: path: what`) and
 * exit code 1.
 */
export function registerStackCommands(program: Command, io: CliIo, cwd: () => string = () => process.cwd()): void {
  const stack = program.command('stack').description('Manage stacks (applications described by compose files)');
  stack
    .command('config')
    .description('Print the resolved, normalized compose project without deploying it')
    .requiredOption('-c, --compose-file <file>', 'Compose file; repeat to merge override files in order', collect, [])
    .option('--profile <profile>', 'Enable a profile; repeat for several (also $COMPOSE_PROFILES)', collect, [])
    .option('-q, --quiet', 'Only validate; print nothing but problems')
    .action((opts: { composeFile: string[]; profile: string[]; quiet?: boolean }) => {
      if (opts.composeFile.length === 0) throw new UsageError('stack config needs at least one -c, --compose-file FILE');
      try {
        const { project, warnings } = loadProject({ files: opts.composeFile, profiles: opts.profile, env: io.env, cwd: cwd() });
        for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
        if (!opts.quiet) io.stdout.write(printProject(project));
      } catch (err) {
        if (!isComposeError(err)) throw err;
        for (const p of err.problems) io.stderr.write(`${formatProblem(p)}\n`);
        throw new PartialFailure(err.problems.length);
      }
    });
}
