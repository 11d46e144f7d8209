import type { Command } from 'commander';
import type { CommandContext } from './context.ts';
import { registerFileObjectCommands } from './file-objects.ts';

/** Registers the `config` command group: create, ls, inspect, rm. */
export function registerConfigCommands(program: Command, context: (cmd: Command) => CommandContext): void {
  registerFileObjectCommands(
    program,
    context,
    {
      kind: 'config',
      list: (ctx) => ctx.client.listConfigs(),
      get: (ctx, ref) => ctx.client.getConfig(ref),
      create: (ctx, spec, data) => ctx.client.createConfig(spec, data),
      remove: (ctx, ref) => ctx.client.removeConfig(ref),
    },
    'Manage configs (files mounted read-only in the tasks that use them)',
  );
}
