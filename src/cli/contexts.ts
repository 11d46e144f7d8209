import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { contextHosts, contextProblem, contextsPath, DEFAULT_CONTEXT, loadContexts, saveContexts, type ClusterContext } from '../client/contexts.ts';
import { resolveDataDir, socketPath } from '../lib/paths.ts';
import type { CliIo } from './context.ts';
import { table } from './format/table.ts';
import { UsageError } from './parse.ts';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$/;

function checkName(name: string): void {
  if (!NAME.test(name)) throw new UsageError(`invalid context name "${name}": letters, digits, '_', '.', '-' (up to 64, starting with a letter or digit)`);
  if (name === DEFAULT_CONTEXT) throw new UsageError(`"${DEFAULT_CONTEXT}" is the built-in context (the local socket): choose another name`);
}

/** How a context authenticates, for `context ls`. */
function authOf(c: ClusterContext): string {
  if (c.cert !== undefined) return 'certificate';
  if (c.token !== undefined) return 'token';
  return 'none';
}

/**
 * Registers `flotilla context ls|use|import|rm|show`: named clusters in
 * `$FLOTILLA_HOME/contexts.json`. The selected one is used by every command unless `--host`,
 * `--context`, `$FLOTILLA_HOST` or `$FLOTILLA_CONTEXT` says otherwise.
 */
export function registerContextCommands(program: Command, io: CliIo): void {
  const out = (s: string): void => {
    io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  };
  const context = program.command('context').description('Manage the clusters this CLI talks to (contexts)');

  context
    .command('ls')
    .alias('list')
    .description('List contexts; * marks the current one; HOST lists every manager, the one tried first first')
    .option('--format <format>', 'json: print the contexts without their keys and tokens')
    .action((opts: { format?: string }) => {
      const file = loadContexts(io.env);
      const current = file.current ?? DEFAULT_CONTEXT;
      const local = `unix://${socketPath(resolveDataDir({ env: io.env }))}`;
      const rows = [
        { name: DEFAULT_CONTEXT, host: local, hosts: [local], auth: 'socket' },
        ...Object.entries(file.contexts)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, c]) => ({ name, host: c.host, hosts: contextHosts(c), auth: authOf(c) })),
      ];
      if (opts.format === 'json') return out(JSON.stringify(rows.map((r) => ({ ...r, current: r.name === current })), null, 2));
      if (opts.format !== undefined && opts.format !== 'table') throw new UsageError(`unsupported --format "${opts.format}": use json (or table, the default)`);
      io.stdout.write(table(['NAME', 'HOST', 'AUTH'], rows.map((r) => [r.name === current ? `${r.name} *` : r.name, r.hosts.join(','), r.auth])));
    });

  context
    .command('use')
    .description('Select the context later commands use')
    .argument('<name>')
    .action((name: string) => {
      const file = loadContexts(io.env);
      if (name !== DEFAULT_CONTEXT && !file.contexts[name]) throw new UsageError(`no context named "${name}": see \`flotilla context ls\``);
      const { current: _old, ...rest } = file;
      saveContexts(io.env, name === DEFAULT_CONTEXT ? rest : { ...rest, current: name });
      out(name);
    });

  context
    .command('import')
    .description('Add a context from a file, e.g. the admin/context.json a `flotilla server` wrote')
    .argument('<name>')
    .argument('<file>', 'JSON: {"host": "https://HOST:4280", "ca": PEM, "cert": PEM, "key": PEM} or with "token"')
    .action((name: string, path: string) => {
      checkName(name);
      let value: unknown;
      try {
        value = JSON.parse(readFileSync(path, 'utf8'));
      } catch (err) {
        throw new UsageError(`cannot read context file ${path}: ${(err as Error).message}`);
      }
      const problem = contextProblem(value);
      if (problem !== undefined) throw new UsageError(`invalid context file ${path}: ${problem}`);
      const v = value as Record<string, string | undefined>;
      const hosts = (value as { hosts?: string[] }).hosts;
      const entry: ClusterContext = {
        host: v['host'] ?? '',
        ...(hosts !== undefined && hosts.length > 0 ? { hosts } : {}),
        ...(v['ca'] !== undefined ? { ca: v['ca'] } : {}),
        ...(v['cert'] !== undefined ? { cert: v['cert'] } : {}),
        ...(v['key'] !== undefined ? { key: v['key'] } : {}),
        ...(v['token'] !== undefined ? { token: v['token'] } : {}),
      };
      const file = loadContexts(io.env);
      if (file.contexts[name]) throw new UsageError(`a context named "${name}" exists already: \`flotilla context rm ${name}\` first`);
      saveContexts(io.env, { ...file, contexts: { ...file.contexts, [name]: entry } });
      out(name);
      io.stderr.write(`flotilla: saved in ${contextsPath(io.env)}; select it with \`flotilla context use ${name}\` or \`--context ${name}\`\n`);
    });

  context
    .command('rm')
    .alias('remove')
    .description('Remove contexts (the current one falls back to default)')
    .argument('<name...>')
    .action((names: string[]) => {
      const file = loadContexts(io.env);
      const missing = names.filter((n) => !file.contexts[n]);
      if (missing.length > 0) throw new UsageError(`no context named ${missing.map((n) => `"${n}"`).join(', ')}: see \`flotilla context ls\``);
      const contexts = Object.fromEntries(Object.entries(file.contexts).filter(([n]) => !names.includes(n)));
      const keepCurrent = file.current !== undefined && !names.includes(file.current);
      saveContexts(io.env, { ...(keepCurrent && file.current !== undefined ? { current: file.current } : {}), contexts });
      out(names.join('\n'));
    });

  context
    .command('show')
    .description('Print the name of the current context (with --format json: its managers too)')
    .option('--format <format>', 'json: the name, every manager address (the one tried first first), how it authenticates, when the list was refreshed')
    .action((opts: { format?: string }) => {
      const file = loadContexts(io.env);
      const name = file.current ?? DEFAULT_CONTEXT;
      if (opts.format === undefined || opts.format === 'table') return out(name);
      if (opts.format !== 'json') throw new UsageError(`unsupported --format "${opts.format}": use json`);
      const c = file.contexts[name];
      const local = `unix://${socketPath(resolveDataDir({ env: io.env }))}`;
      const shown = c
        ? { name, host: c.host, hosts: contextHosts(c), auth: authOf(c), ...(c.managersCheckedAt === undefined ? {} : { managersCheckedAt: c.managersCheckedAt }) }
        : { name, host: local, hosts: [local], auth: 'socket' };
      out(JSON.stringify(shown, null, 2));
    });
}
