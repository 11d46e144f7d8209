import type { EventEmitter } from 'node:events';
import type { Etcd3, Watcher } from 'etcd3';
import type { Clock } from '../../lib/clock.ts';

/**
 * What this file reads of etcd3 1.1.2's `WatchManager` (node_modules/etcd3/lib/watch.js), which
 * the client keeps private: the watchers attached to its one gRPC watch stream, those being
 * cancelled, its state (2: connected, a stream is open) and that stream. Checked at run time:
 * another etcd3 that does not look like this is left alone (`watchesOf` is undefined).
 */
interface WatchManagerView {
  watchers: Watcher[];
  expectedClosers: Set<Watcher>;
  state: number;
  stream: (EventEmitter & { cancel(): void }) | undefined;
  destroyStream(): void;
}

const CONNECTED = 2;

function watchesOf(client: Etcd3): WatchManagerView | undefined {
  const m = (client as unknown as { watchManager?: Partial<WatchManagerView> }).watchManager;
  if (!m || !Array.isArray(m.watchers) || !(m.expectedClosers instanceof Set) || typeof m.state !== 'number' || typeof m.destroyStream !== 'function') return undefined;
  return m as WatchManagerView;
}

/** Watchers still attached to `client`'s watch stream; undefined when etcd3's internals are not the ones this file knows. */
export function attachedWatchers(client: Etcd3): number | undefined {
  return watchesOf(client)?.watchers.length;
}

/**
 * Ends every watch of `client` before the client is closed, so that nothing of etcd3's watch
 * stream outlives it. First `cancels` (the owner's own watcher cancellations) are given
 * `boundMs` to be confirmed: a dead etcd never confirms one. Whatever is still attached then
 * (a cancel not confirmed, or a watcher of another part sharing the client, such as the
 * election's) is detached at once, and that needs care, as two failures of etcd3 1.1.2 show:
 * - a watcher left attached makes its watch manager re-open the stream (on a timer, forever)
 *   even after `client.close()`, which keeps the process alive;
 * - clearing the watcher list while the stream is open makes the next response for one of
 *   those watches (anything written under its prefix meanwhile: `client.close()` does not end
 *   an open stream) throw `ClientRuntimeError: Failed to find watcher for IWatchResponse` from
 *   the stream's data handler, uncaught: the process crashes.
 * So the stream's responses are dropped first, then the list is cleared and the stream
 * cancelled (etcd drops its watches with it), by the manager's own `destroyStream`.
 */
/** `p`, or nothing after `ms` on `clock` (a dead etcd never confirms a watch cancel); the timer is cancelled either way. */
export async function bounded(p: Promise<unknown>, clock: Clock, ms: number): Promise<void> {
  let timer: { cancel(): void } | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => (timer = clock.setTimer(ms, resolve)))]);
  } finally {
    timer?.cancel();
  }
}

export async function endWatches(client: Etcd3, clock: Clock, cancels: Iterable<Promise<unknown>>, boundMs: number): Promise<void> {
  await bounded(Promise.all(cancels), clock, boundMs);
  const m = watchesOf(client);
  if (!m || m.watchers.length === 0) return;
  if (m.state === CONNECTED && m.stream) {
    // Responses still on their way (or buffered) go nowhere instead of to a missing watcher.
    m.stream.removeAllListeners('data');
    m.stream.on('data', () => undefined);
  }
  m.watchers = [];
  m.expectedClosers.clear();
  // Connected: cancel the stream now (its 'error'/'end' then finds no watcher to reconnect for).
  // Connecting: the manager cancels the stream itself when it opens and finds no watcher.
  // Idle: its reconnect timer finds no watcher and stops.
  if (m.state === CONNECTED && m.stream) {
    try {
      m.destroyStream();
    } catch {
      // not in the state it checks for after all: its own error handling ends the stream
    }
  }
}

/** An owner's etcd watcher cancellations (and other requests in flight), which `end` waits for. */
export class WatchCancels {
  readonly #pending = new Set<Promise<unknown>>();

  /** Cancels `w` (a failure is ignored: the stream is gone, and the watch with it). */
  cancel(w: Watcher): void {
    this.track(w.cancel().catch(() => undefined));
  }

  /** Waits for `p` too at `end` (it settles by itself). */
  track(p: Promise<unknown>): void {
    const q: Promise<unknown> = p.then(
      () => this.#pending.delete(q),
      () => this.#pending.delete(q),
    );
    this.#pending.add(q);
  }

  /** `endWatches` of `client` with every cancel tracked. */
  end(client: Etcd3, clock: Clock, boundMs: number): Promise<void> {
    return endWatches(client, clock, this.#pending, boundMs);
  }
}
