import { Option, type Command } from 'commander';
import type { ClusterEvent } from '../api/event.ts';
import { targetUrls } from '../client/client.ts';
import { systemClock } from '../lib/clock.ts';
import type { CommandContext } from './context.ts';
import { EventMatcher, kindsFor, parseEventFilters, EVENT_FILTER_KEYS } from './events-filter.ts';
import { UsageError } from './parse.ts';
import { MAX_RESUME_ATTEMPTS, pause, resumeBackoff, streamBroke } from './stream-resume.ts';
import { taskName } from './views.ts';

interface EventsFlags {
  readonly filter: string[];
  readonly since?: string;
  readonly until?: string;
  readonly format?: 'json';
}

/** When `--until` ends the stream: after an event at or past a revision, or at a time. */
type Until = { readonly revision: number } | { readonly at: number } | undefined;

/** `--since REV`: the event stream resumes by revision (the `revision` of each event), not by time. */
export function parseSince(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) {
    throw new UsageError(
      `invalid --since "${text}": expected a revision (the "revision" of an event, e.g. from --format json); ` +
        'the event stream resumes by revision, it keeps no times',
    );
  }
  return Number(text.trim());
}

/** `--until REV`, `--until 30s` (a duration from now: ms, s, m, h) or `--until 2026-12-02T22:00:00Z`. */
export function parseUntil(text: string | undefined, now: number): Until {
  if (text === undefined) return undefined;
  const t = text.trim();
  if (/^\d+$/.test(t)) return { revision: Number(t) };
  const d = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(t);
  if (d) return { at: now + Number(d[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[d[2] as 'ms' | 's' | 'm' | 'h'] };
  const at = Date.parse(t);
  if (/^\d{4}-\d\d-\d\d/.test(t) && Number.isFinite(at)) return { at };
  throw new UsageError(`invalid --until "${text}": expected a revision (123), a duration (30s, 5m, 1h) or a time (2026-12-02T22:00:00Z)`);
}

/** One event as `docker events` prints it: time, type, action, name, then attributes. */
export function eventLine(ev: ClusterEvent): string {
  const o = ev.object;
  const attrs: string[] = [`id=${o.id}`];
  let name: string;
  switch (ev.kind) {
    case 'service':
      name = ev.object.spec.name;
      break;
    case 'task':
      name = taskName(ev.object);
      attrs.push(`state=${ev.object.status.state}`, `desired=${ev.object.desiredState}`);
      if (ev.object.nodeId !== undefined) attrs.push(`node=${ev.object.nodeId}`);
      if (ev.object.status.message) attrs.push(`message=${JSON.stringify(ev.object.status.message)}`);
      break;
    case 'node':
      name = ev.object.description.hostname;
      attrs.push(`state=${ev.object.status.state}`, `availability=${ev.object.spec.availability}`);
      break;
    case 'network':
    case 'secret':
    case 'config':
    case 'stack':
      name = ev.object.spec.name;
      break;
  }
  attrs.push(`revision=${ev.revision}`);
  return `${o.updatedAt} ${ev.kind} ${ev.action} ${name} (${attrs.join(', ')})`;
}

/**
 * Registers `flotilla events`: the cluster's event stream (`GET /v1/events`), filtered here as
 * `docker events` filters, until Ctrl-C or `--until`.
 */
export function registerEventsCommand(program: Command, context: (cmd: Command) => CommandContext): void {
  program
    .command('events')
    .description('Stream cluster events (services, tasks, nodes, networks, secrets, configs, stacks) until Ctrl-C')
    .option(
      '-f, --filter <KEY=VALUE>',
      `Filter (repeatable; one key's values are alternatives, different keys all apply): ${EVENT_FILTER_KEYS.join(', ')}; ` +
        'e.g. type=task, event=delete, service=web, node=HOSTNAME, stack=NAME',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--since <revision>', 'Replay every change after this revision first (resume where a previous run stopped)')
    .option('--until <when>', 'Stop after this revision, after a duration (30s, 5m) or at a time (RFC 3339)')
    .addOption(new Option('--format <format>', 'Print each event as one line of JSON').choices(['json']))
    .action(async (flags: EventsFlags, cmd: Command) => {
      const ctx = context(cmd);
      await streamEvents(ctx, flags);
    });
}

async function streamEvents(ctx: CommandContext, flags: EventsFlags): Promise<void> {
  const filters = parseEventFilters(flags.filter);
  const since = parseSince(flags.since);
  const until = parseUntil(flags.until, ctx.io.now());
  const ac = new AbortController();
  const onAbort = (): void => ac.abort();
  ctx.io.signal?.addEventListener('abort', onAbort, { once: true });
  // Not setTimeout: past 2^31-1 ms (~24.8 days) it fires at once and --until would end the command at start.
  const setTimer = ctx.io.setTimer ?? systemClock.setTimer;
  const timer = until && 'at' in until ? setTimer(Math.max(0, until.at - ctx.io.now()), onAbort) : undefined;
  try {
    if (ctx.io.signal?.aborted) return;
    const known = EventMatcher.needsListing(filters) ? { services: await ctx.client.listServices(), nodes: await ctx.client.listNodes() } : {};
    const matcher = new EventMatcher(filters, known);
    // A revision bound must see every kind's revisions, or a filter could keep it waiting.
    const kinds = until && 'revision' in until ? undefined : kindsFor(filters);
    // With several managers, a stream that breaks is taken up again on another, after the last
    // revision seen (`?since=`): the store's revisions are the same on every manager.
    const resumable = targetUrls(ctx.client.target).length > 1;
    const backoff = resumeBackoff();
    let last = since;
    for (;;) {
      try {
        const stream = ctx.client.events({
          ...(last !== undefined ? { since: last } : {}),
          ...(kinds ? { kinds } : {}),
          signal: ac.signal,
          // Live only (no --since): a stream that breaks before its first event resumes where it began.
          opened: (revision) => (last ??= revision),
        });
        for await (const ev of stream) {
          // A manager whose copy of the store lags may repeat what another already sent.
          if (last !== undefined && ev.revision <= last) continue;
          last = ev.revision;
          backoff.reset();
          if (until && 'revision' in until && ev.revision > until.revision) return;
          if (matcher.matches(ev)) ctx.out(flags.format === 'json' ? JSON.stringify(ev) : eventLine(ev));
          if (until && 'revision' in until && ev.revision >= until.revision) return;
        }
        if (!resumable) return;
      } catch (err) {
        if (!resumable || ac.signal.aborted || !streamBroke(err) || backoff.attempts >= MAX_RESUME_ATTEMPTS) throw err;
      }
      if (ac.signal.aborted) return;
      const delay = backoff.next();
      ctx.error(`the event stream ended; resuming${last === undefined ? '' : ` after revision ${last}`} in ${delay} ms`);
      await pause(delay, ac.signal, setTimer);
      if (ac.signal.aborted) return;
    }
  } catch (err) {
    if (ac.signal.aborted) return;
    throw err;
  } finally {
    ac.abort(); // ends the HTTP stream when --until ended the loop
    timer?.cancel();
    ctx.io.signal?.removeEventListener('abort', onAbort);
  }
}
