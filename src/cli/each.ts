import { isClientError } from '../client/client.ts';
import type { CommandContext } from './context.ts';

/** Some items of a multi-item command failed; each was reported on stderr already. */
export class PartialFailure extends Error {
  override readonly name = 'PartialFailure';
  constructor(failed: number) {
    super(`${failed} item(s) failed`);
  }
}

export function isPartialFailure(e: unknown): e is PartialFailure {
  return e instanceof PartialFailure;
}

/**
 * Runs `fn` for each item, as docker's multi-name commands do: an API error for one item is
 * reported on stderr and the rest still run; the command then fails. An unreachable manager
 * stops at once.
 */
export async function forEachItem<T>(ctx: CommandContext, items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let failed = 0;
  for (const item of items) {
    try {
      await fn(item);
    } catch (err) {
      if (!isClientError(err) || err.code === 'unreachable') throw err;
      ctx.error(err.message);
      failed++;
    }
  }
  if (failed > 0) throw new PartialFailure(failed);
}
