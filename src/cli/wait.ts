import type { Command } from 'commander';
import type { ClusterEvent } from '../api/event.ts';
import type { Node } from '../api/node.ts';
import type { Service } from '../api/service.ts';
import { targetUrls } from '../client/client.ts';
import { systemClock } from '../lib/clock.ts';
import type { CommandContext } from './context.ts';
import { parseDuration } from './parse.ts';
import { formatView, progressView, type WaitOperation } from './progress.ts';
import { MAX_RESUME_ATTEMPTS, pause, resumeBackoff, streamBroke } from './stream-resume.ts';

/**
 * Waiting for a service to converge after `service create|update|scale|rollback`, showing
 * live progress (progress.ts draws it). Follows the manager's event stream and re-reads the
 * service and its tasks after each change that concerns it: no polling. Progress goes to
 * stderr (stdout keeps the command's result, e.g. the new service's id, for scripts).
 */

/** The flags every waiting command takes. */
export interface WaitFlags {
  detach?: boolean;
  quiet?: boolean;
  timeout?: string;
}

/** The wait ended without convergence: rollout paused or rolled back, or time ran out. */
export class WaitFailure extends Error {
  override readonly name = 'WaitFailure';
}

export function isWaitFailure(e: unknown): e is WaitFailure {
  return e instanceof WaitFailure;
}

/** Default `--timeout`: generous, since images may have to be pulled. */
export const DEFAULT_WAIT_TIMEOUT = '5m';

/** Adds `-d/--detach`, `-q/--quiet` and `--timeout`. */
export function addWaitOptions(cmd: Command): Command {
  return cmd
    .option('-d, --detach', 'Exit immediately instead of waiting for the service to converge')
    .option('-q, --quiet', 'Suppress progress output')
    .option('--timeout <duration>', `How long to wait for the service to converge (default ${DEFAULT_WAIT_TIMEOUT})`);
}

/** Draws the display: redrawn in place on a terminal, otherwise only the lines that changed. */
export class ProgressPrinter {
  readonly #write: (s: string) => void;
  readonly #tty: boolean;
  #drawn = 0;
  readonly #last = new Map<string, string>();

  constructor(write: (s: string) => void, tty: boolean) {
    this.#write = write;
    this.#tty = tty;
  }

  header(text: string): void {
    this.#write(`${text}\n`);
  }

  draw(lines: ReadonlyArray<{ key: string; text: string }>): void {
    if (this.#tty) {
      let s = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : '';
      for (const l of lines) s += `\x1b[2K${l.text}\n`;
      for (let i = lines.length; i < this.#drawn; i++) s += '\x1b[2K\n';
      if (this.#drawn > lines.length) s += `\x1b[${this.#drawn - lines.length}A`;
      this.#drawn = lines.length;
      this.#write(s);
      return;
    }
    let s = '';
    for (const l of lines) {
      if (this.#last.get(l.key) === l.text) continue;
      this.#last.set(l.key, l.text);
      s += `${l.text}\n`;
    }
    if (s) this.#write(s);
  }
}

/** One wait: which changes matter, and how to re-read and judge after them. */
export interface WatchLoop {
  /** For the timeout message: "service web", "stack demo". */
  readonly what: string;
  readonly kinds: ReadonlyArray<'service' | 'task' | 'node'>;
  readonly concerns: (ev: ClusterEvent) => boolean;
  /** Re-reads and redraws; true when the wait is over. Throws `WaitFailure` when it failed. */
  readonly check: () => Promise<boolean>;
}

/**
 * Follows the event stream and runs `loop.check` once at start and once per burst of changes
 * that concern the wait, until it says done; throws `WaitFailure` on `--timeout`, Ctrl-C or
 * a stream that ends.
 */
export async function watchUntilDone(ctx: CommandContext, flags: WaitFlags, loop: WatchLoop): Promise<void> {
  const timeoutMs = parseDuration(flags.timeout ?? DEFAULT_WAIT_TIMEOUT, '--timeout');
  const client = ctx.client;
  const abort = new AbortController();
  const onUserAbort = (): void => abort.abort();
  ctx.io.signal?.addEventListener('abort', onUserAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs);

  // Changes are coalesced: each wake-up re-reads once, however many events arrived.
  let dirty = true;
  let wake: (() => void) | undefined;
  let streamError: unknown;
  const notify = (): void => {
    dirty = true;
    wake?.();
  };
  abort.signal.addEventListener('abort', notify, { once: true });
  try {
    const since = (await client.info()).revision;
    // With several managers a broken stream is taken up on another after the last revision
    // seen, and the wait re-reads (a change may have come in the gap).
    const resumable = targetUrls(client.target).length > 1;
    const follow = async (): Promise<void> => {
      const backoff = resumeBackoff();
      let last = since;
      for (;;) {
        try {
          for await (const ev of client.events({ since: last, kinds: [...loop.kinds], signal: abort.signal })) {
            last = Math.max(last, ev.revision);
            backoff.reset();
            if (loop.concerns(ev)) notify();
          }
          if (!resumable) throw new WaitFailure('the manager ended the event stream');
        } catch (err) {
          if (!resumable || abort.signal.aborted || isWaitFailure(err) || !streamBroke(err) || backoff.attempts >= MAX_RESUME_ATTEMPTS) throw err;
        }
        await pause(backoff.next(), abort.signal, ctx.io.setTimer ?? systemClock.setTimer);
        if (abort.signal.aborted) return;
        notify();
      }
    };
    follow().catch((err: unknown) => {
      if (!abort.signal.aborted) streamError = err;
      notify();
    });
    for (;;) {
      if (!dirty) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      dirty = false;
      if (timedOut) throw new WaitFailure(`timed out after ${flags.timeout ?? DEFAULT_WAIT_TIMEOUT} waiting for ${loop.what} to converge (--timeout)`);
      if (abort.signal.aborted) throw new WaitFailure('interrupted');
      if (streamError !== undefined) throw streamError;
      if (await loop.check()) return;
    }
  } finally {
    clearTimeout(timer);
    ctx.io.signal?.removeEventListener('abort', onUserAbort);
    abort.abort();
  }
}

/** A progress printer on stderr, unless `--quiet`. */
export function stderrPrinter(ctx: CommandContext, flags: WaitFlags): ProgressPrinter | undefined {
  if (flags.quiet === true) return undefined;
  const stderr = ctx.io.stderr as { write(s: string): unknown; isTTY?: boolean };
  return new ProgressPrinter((s) => stderr.write(s), stderr.isTTY === true);
}

/**
 * Waits until `service` converges (resolves) or its rollout fails or `--timeout` passes
 * (throws `WaitFailure`). `written` is the service as the command's write returned it: its
 * update status is the baseline a change is measured from.
 */
export async function waitForService(ctx: CommandContext, written: Service, op: WaitOperation, flags: WaitFlags): Promise<void> {
  const printer = stderrPrinter(ctx, flags);
  const client = ctx.client;
  const id = written.id;
  const global = written.spec.mode === 'global' || written.spec.mode === 'global-job';
  printer?.header(written.spec.name);
  await watchUntilDone(ctx, flags, {
    what: `service ${written.spec.name}`,
    kinds: global ? ['service', 'task', 'node'] : ['service', 'task'],
    concerns: (ev) =>
      (ev.kind === 'service' && ev.object.id === id) || (ev.kind === 'task' && ev.object.serviceId === id) || (ev.kind === 'node' && global),
    check: async () => {
      const [service, tasks, nodes] = await Promise.all([
        client.getService(id),
        client.listTasks({ service: id }),
        global ? client.listNodes() : Promise.resolve([] as Node[]),
      ]);
      const view = progressView(service, tasks, nodes, op, written.updateStatus);
      printer?.draw(formatView(view));
      if (view.failure !== undefined) throw new WaitFailure(view.failure);
      if (view.converged) printer?.header('verify: Service converged');
      return view.converged;
    },
  });
}
