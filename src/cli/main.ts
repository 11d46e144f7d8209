import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { CommandContext, errorMessage, resolveTarget, type CliIo, type TargetFlags } from './context.ts';
import { isPartialFailure } from './each.ts';
import { CLI_VERSION } from './version.ts';

/** Exit codes: 0 ok, 1 the command failed, 2 the command line is wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** What a command group's module registers on the program with. */
type Register = (program: Command, io: CliIo, context: (cmd: Command) => CommandContext) => void;

/**
 * The command groups, in `--help` order, each the module that registers it. A module is
 * imported only when the command line names its group (`commandGroup`), so a command loads only
 * what it uses: `flotilla service ls` never loads the compose loader, `flotilla stack config`
 * never the manager. `--help`, `help` and an unknown command load every group (the list and
 * commander's "did you mean" need them all); the group modules keep their own heavy imports
 * (manager, agent, drivers) inside their actions, which `cli-imports.test.ts` keeps true.
 */
const COMMAND_GROUPS: Readonly<Record<string, () => Promise<Register>>> = {
  service: () => import('./service.ts').then((m): Register => (p, _io, c) => m.registerServiceCommands(p, c)),
  node: () => import('./node.ts').then((m): Register => (p, _io, c) => m.registerNodeCommands(p, c)),
  dev: () => import('./dev.ts').then((m): Register => (p, io) => m.registerDevCommand(p, io)),
  server: () => import('./server.ts').then((m): Register => (p, io) => m.registerServerCommand(p, io)),
  join: () => import('./join.ts').then((m): Register => (p, io) => m.registerJoinCommand(p, io)),
  token: () => import('./token.ts').then((m): Register => (p, _io, c) => m.registerTokenCommand(p, c)),
  context: () => import('./contexts.ts').then((m): Register => (p, io) => m.registerContextCommands(p, io)),
  stack: () => import('./stack.ts').then((m): Register => (p, io, c) => m.registerStackCommands(p, io, c)),
  secret: () => import('./secret.ts').then((m): Register => (p, _io, c) => m.registerSecretCommands(p, c)),
  config: () => import('./config.ts').then((m): Register => (p, _io, c) => m.registerConfigCommands(p, c)),
  network: () => import('./network.ts').then((m): Register => (p, _io, c) => m.registerNetworkCommands(p, c)),
  events: () => import('./events.ts').then((m): Register => (p, _io, c) => m.registerEventsCommand(p, c)),
};

/** The global options that take a value (they come before the command: positional options). */
const GLOBAL_VALUE_OPTIONS = new Set(['-H', '--host', '-c', '--context']);

/**
 * The command group a command line runs: its first word after the global options. Undefined
 * when it names none, or when anything but `-H`/`--host`/`-c`/`--context` comes first (`-h`,
 * `-v`, `--`, an unknown option): then every group is loaded and commander decides as it always
 * did.
 */
export function commandGroup(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (GLOBAL_VALUE_OPTIONS.has(word)) {
      i++;
    } else if (/^(--host=|--context=|-H.|-c.)/.test(word)) {
      continue;
    } else {
      return Object.hasOwn(COMMAND_GROUPS, word) ? word : undefined;
    }
  }
  return undefined;
}

/**
 * Builds the `flotilla` program; commands write through `io`. With `argv`, only the command
 * group it names is registered (all of them when it names none): what `run` does. Each
 * command's `CommandContext` is added to `used` (`run` settles them after the command).
 */
export async function buildProgram(io: CliIo, argv?: readonly string[], used: Set<CommandContext> = new Set()): Promise<Command> {
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
  const context = (cmd: Command): CommandContext => {
    const c = new CommandContext(io, cmd.optsWithGlobals() as TargetFlags);
    used.add(c);
    return c;
  };
  const group = argv === undefined ? undefined : commandGroup(argv);
  const names = group === undefined ? Object.keys(COMMAND_GROUPS) : [group];
  const registers = await Promise.all(names.map((name) => COMMAND_GROUPS[name]!()));
  for (const register of registers) register(program, io, context);
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
  const used = new Set<CommandContext>();
  const program = await buildProgram(io, argv, used);
  if (argv.length === 0) {
    program.outputHelp();
    return EXIT.ok;
  }
  let ok = false;
  try {
    await program.parseAsync([...argv], { from: 'user' });
    ok = true;
    return EXIT.ok;
  } catch (err) {
    return failed(err, program, io);
  } finally {
    // A saved context keeps the manager that answered and, now and then, the managers' list.
    for (const c of used) await c.settle(ok);
  }
}

/** The exit code of a command that threw, after saying why on stderr. */
function failed(err: unknown, program: Command, io: CliIo): number {
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
