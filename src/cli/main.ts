import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CommandContext, errorMessage, resolveTarget, type CliIo, type TargetFlags } from './context.ts';
import { registerConfigCommands } from './config.ts';
import { registerContextCommands } from './contexts.ts';
import { registerDevCommand } from './dev.ts';
import { isPartialFailure } from './each.ts';
import { registerEventsCommand } from './events.ts';
import { registerJoinCommand } from './join.ts';
import { registerNetworkCommands } from './network.ts';
import { registerNodeCommands } from './node.ts';
import { registerSecretCommands } from './secret.ts';
import { registerServerCommand } from './server.ts';
import { registerServiceCommands } from './service.ts';
import { registerStackCommands } from './stack.ts';
import { registerTokenCommand } from './token.ts';
import { CLI_VERSION } from './version.ts';

/** Exit codes: 0 ok, 1 the command failed, 2 the command line is wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** Builds the `flotilla` program; commands write through `io`. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('flotilla');
  program
    .description('A container orchestrator: services across one host or hundreds.')
    .version(CLI_VERSION, '-v, --version')
    .option('-H, --host <host>', 'Manager to talk to: unix:///path/flotilla.sock or http://host:port (default: $FLOTILLA_HOST, else the current context, else the socket in $FLOTILLA_HOME or ~/.flotilla)')
    .option('-c, --context <name>', 'Cluster context to use (default: $FLOTILLA_CONTEXT, else the one `flotilla context use` chose); see `flotilla context`')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`flotilla: ${s.replace(/^error: /, '')}`),
    });
  const context = (cmd: Command): CommandContext => new CommandContext(io, cmd.optsWithGlobals() as TargetFlags);
  registerServiceCommands(program, context);
  registerNodeCommands(program, context);
  registerDevCommand(program, io);
  registerServerCommand(program, io);
  registerJoinCommand(program, io);
  registerTokenCommand(program, context);
  registerContextCommands(program, io);
  registerStackCommands(program, io, context);
  registerSecretCommands(program, context);
  registerConfigCommands(program, context);
  registerNetworkCommands(program, context);
  registerEventsCommand(program, context);
  for (const c of allCommands(program)) {
    c.exitOverride();
    c.configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`flotilla: ${s.replace(/^error: /, '')}`),
    });
  }
  return program;
}

function allCommands(c: Command): Command[] {
  return c.commands.flatMap((sub) => [sub, ...allCommands(sub)]);
}

/**
 * Runs one command line (without `node` and the script: `['service', 'ls']`) and returns its
 * exit code. Errors become one line on stderr, `flotilla: <what is wrong>`.
 */
export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (isPartialFailure(err)) return EXIT.failed;
    let target;
    try {
      target = resolveTarget(program.opts() as TargetFlags, io.env);
    } catch {
      target = undefined;
    }
    io.stderr.write(`flotilla: ${errorMessage(err, target)}\n`);
    return (err as { name?: string }).name === 'UsageError' ? EXIT.usage : EXIT.failed;
  }
}

/** The process's own io: real streams, environment and clock. */
function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, now: () => Date.now() };
}

/** Runs the process's command line and sets its exit code (the entry point `bin/flotilla.js` calls). */
export async function main(): Promise<void> {
  process.exitCode = await run(process.argv.slice(2), processIo());
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) await main();
