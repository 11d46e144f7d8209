import type { ManagerEntry } from '../api/managers.ts';
import { describeTarget, FlotillaClient, isClientError, type FailoverEvent, type Target } from '../client/client.ts';
import { loadContexts, managersDue, resolveTarget as resolveClientTarget, resolveTargetContext, updateContext, withManagers } from '../client/contexts.ts';
import type { Clock } from '../lib/clock.ts';
import { isUsageError, UsageError } from './parse.ts';

/** Where a command writes and what it reads from its environment; tests pass their own. */
export interface CliIo {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Milliseconds since the epoch, for "2 minutes ago". */
  now(): number;
  /** Runs `fn` once after `ms` (`events --until 5m`); default `systemClock.setTimer`, which waits past setTimeout's ~24.8-day limit. */
  readonly setTimer?: Clock['setTimer'];
  /** Aborted when the user interrupts (Ctrl-C), to end streaming commands cleanly. */
  readonly signal?: AbortSignal;
  /** Standard input (`secret create NAME -`); default the process's. */
  readonly stdin?: AsyncIterable<Uint8Array | string>;
}

/** The global flags that pick a manager. */
export interface TargetFlags {
  readonly host?: string | undefined;
  readonly context?: string | undefined;
}

/**
 * `--host`, else `--context`, else `$FLOTILLA_HOST`, else `$FLOTILLA_CONTEXT`, else the
 * current context (`flotilla context use`), else the socket of the default data dir.
 */
export function resolveTarget(flags: TargetFlags, env: CliIo['env']): Target {
  return resolveClientTarget({ host: flags.host, context: flags.context, env });
}

/**
 * What each command runs with: the io and a client of the manager it was pointed at. A client
 * of a saved context with several managers fails over between them, says so on stderr, and
 * (`settle`, after the command) keeps the manager that answered first in the context, and the
 * context's manager list fresh.
 */
export class CommandContext {
  readonly io: CliIo;
  readonly #flags: TargetFlags;
  #client: FlotillaClient | undefined;
  #contextName: string | undefined;
  #failedOver = false;

  constructor(io: CliIo, flags: TargetFlags) {
    this.io = io;
    this.#flags = flags;
  }

  get client(): FlotillaClient {
    if (!this.#client) {
      const { target, context } = resolveTargetContext({ host: this.#flags.host, context: this.#flags.context, env: this.io.env });
      this.#contextName = context;
      this.#client = new FlotillaClient(target, { onFailover: (e) => this.#onFailover(e) });
    }
    return this.#client;
  }

  #onFailover(e: FailoverEvent): void {
    this.#failedOver = true;
    this.io.stderr.write(`flotilla: ${e.errors.map((err) => err.message).join('; ')}; using the manager at ${e.to}\n`);
  }

  /**
   * After the command: for a saved context, keeps the manager that answered first (after a
   * failover), and refreshes the list of managers from `GET /v1/managers` after a failover, or
   * after a command that succeeded when the list is due (`MANAGERS_REFRESH_MS`). Never throws:
   * a failure leaves the context as it was.
   */
  async settle(succeeded: boolean): Promise<void> {
    const client = this.#client;
    const name = this.#contextName;
    if (!client || name === undefined || (!succeeded && !this.#failedOver)) return;
    try {
      const saved = loadContexts(this.io.env).contexts[name];
      if (!saved) return;
      const now = this.io.now();
      const due = saved.host.startsWith('https:') && (this.#failedOver || managersDue(saved, now));
      if (!due && !this.#failedOver) return;
      let members: readonly ManagerEntry[] | undefined;
      if (due) {
        try {
          members = (await client.listManagers()).managers;
        } catch {
          // A manager without the list (an older one), or none reachable now: checked all the same.
          members = undefined;
        }
      }
      updateContext(this.io.env, name, (c) => withManagers(c, client.activeUrl, members, due ? now : undefined));
    } catch {
      // The context file could not be read or written: the command's own outcome stands.
    }
  }

  out(text: string): void {
    this.io.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** Prints objects exactly as the API returned them, as one JSON array. */
  json(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /** One line on stderr: `flotilla: <what is wrong>`. */
  error(message: string): void {
    this.io.stderr.write(`flotilla: ${message}\n`);
  }
}

/** The one-line message for an error a command ran into. */
export function errorMessage(err: unknown, target: Target | undefined): string {
  if (isClientError(err)) {
    if (err.code === 'unreachable' && target) {
      if ('url' in target && target.url.startsWith('https:')) return err.message;
      return `cannot reach the manager at ${describeTarget(target)}: is \`flotilla dev\` running?`;
    }
    return err.message;
  }
  if (isUsageError(err)) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** Checks `--format`: only `json` (and the default table) are supported. */
export function checkFormat(format: string | undefined): 'json' | 'table' {
  if (format === undefined || format === 'table') return 'table';
  if (format === 'json') return 'json';
  throw new UsageError(`unsupported --format "${format}": use json (or table, the default)`);
}
