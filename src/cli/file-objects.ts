import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { Config, Secret } from '../api/secret.ts';
import { checkFormat, type CliIo, type CommandContext } from './context.ts';
import { forEachItem } from './each.ts';
import { ago } from './format/time.ts';
import { table } from './format/table.ts';
import { parseLabels, UsageError } from './parse.ts';

/**
 * `secret` and `config` share their commands (docker's syntax): `create NAME FILE|-`, `ls`,
 * `inspect`, `rm`. Only the client calls differ, so one registrar serves both.
 */

type FileObject = Secret | Config;

/** The client calls behind one command group. */
export interface FileObjectApi {
  readonly kind: 'secret' | 'config';
  list(ctx: CommandContext): Promise<FileObject[]>;
  get(ctx: CommandContext, ref: string): Promise<FileObject>;
  create(ctx: CommandContext, spec: { name: string; labels: Record<string, string> }, data: Uint8Array): Promise<FileObject>;
  remove(ctx: CommandContext, ref: string): Promise<void>;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The content of FILE, or of standard input for `-`. */
export async function readSource(io: CliIo, file: string, kind: string): Promise<Buffer> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const c of io.stdin ?? process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : Buffer.from(c));
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    throw new UsageError(`cannot read the ${kind} file ${file}: ${why}`);
  }
}

/** Registers `create`, `ls`, `inspect`, `rm` of one kind on `program`. */
export function registerFileObjectCommands(program: Command, context: (cmd: Command) => CommandContext, api: FileObjectApi, description: string): void {
  const { kind } = api;
  const group = program.command(kind).description(description);

  group
    .command('create')
    .description(`Create a ${kind} from a file or STDIN as content`)
    .argument('<name>')
    .argument('<file>', 'Path of the content, or - to read standard input')
    .option('-l, --label <K=V>', `${kind[0]?.toUpperCase()}${kind.slice(1)} labels`, collect, [])
    .action(async (name: string, file: string, opts: { label: string[] }, cmd: Command) => {
      const ctx = context(cmd);
      const labels = parseLabels(opts.label, '--label');
      const data = await readSource(ctx.io, file, kind);
      try {
        const created = await api.create(ctx, { name, labels }, data);
        ctx.out(created.id);
      } finally {
        data.fill(0);
      }
    });

  group
    .command('ls')
    .alias('list')
    .description(`List ${kind}s`)
    .option('-q, --quiet', 'Only display IDs')
    .option('--format <format>', `json: print the ${kind}s as the API returns them`)
    .action(async (opts: { quiet?: boolean; format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      const format = checkFormat(opts.format);
      const items = (await api.list(ctx)).sort((a, b) => a.spec.name.localeCompare(b.spec.name));
      if (format === 'json') return ctx.json(items);
      if (opts.quiet) return ctx.out(items.map((o) => o.id).join('\n'));
      const now = ctx.io.now();
      ctx.io.stdout.write(table(['ID', 'NAME', 'CREATED', 'UPDATED'], items.map((o) => [o.id.slice(0, 12), o.spec.name, ago(o.createdAt, now), ago(o.updatedAt, now)])));
    });

  group
    .command('inspect')
    .description(`Display detailed information on one or more ${kind}s${kind === 'secret' ? ' (never their data)' : ''}`)
    .argument(`<${kind}...>`)
    .option('--format <format>', 'json (the default)')
    .action(async (refs: string[], opts: { format?: string }, cmd: Command) => {
      const ctx = context(cmd);
      checkFormat(opts.format);
      const found: unknown[] = [];
      await forEachItem(ctx, refs, async (r) => {
        found.push(await api.get(ctx, r));
      }).finally(() => {
        if (found.length > 0) ctx.json(found);
      });
    });

  group
    .command('rm')
    .alias('remove')
    .description(`Remove one or more ${kind}s (refused while a service uses one)`)
    .argument(`<${kind}...>`)
    .action(async (refs: string[], _opts: unknown, cmd: Command) => {
      const ctx = context(cmd);
      await forEachItem(ctx, refs, async (r) => {
        await api.remove(ctx, r);
        ctx.out(r);
      });
    });
}
