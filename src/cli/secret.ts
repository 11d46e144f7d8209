import type { Command } from 'commander';
import type { CommandContext } from './context.ts';
import { registerFileObjectCommands } from './file-objects.ts';

/** Registers the `secret` command group: create, ls, inspect, rm. The data is never printed. */
export function registerSecretCommands(program: Command, context: (cmd: Command) => CommandContext): void {
  registerFileObjectCommands(
    program,
    context,
    {
      kind: 'secret',
      list: (ctx) => ctx.client.listSecrets(),
      get: (ctx, ref) => ctx.client.getSecret(ref),
      create: (ctx, spec, data) => ctx.client.createSecret(spec, data),
      remove: (ctx, ref) => ctx.client.removeSecret(ref),
    },
    'Manage secrets (sealed at rest, mounted at /run/secrets/NAME in the tasks that use them)',
  );
}
