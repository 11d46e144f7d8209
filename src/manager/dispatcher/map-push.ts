import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import type { Store } from '../../store/store.ts';
import type { AgentSession } from './agent-session.ts';
import { encodeNetworkMapMessage, mapFingerprint, networkMapsFor, type NetworkMapSnapshot } from './network-map.ts';

export interface MapPushDeps {
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  /** The open sessions (past their handshake), by node id. */
  readonly sessions: () => ReadonlyMap<string, AgentSession>;
}

/**
 * Pushes each connected node its network map (`network-map.ts`) when it changed: `markDirty`
 * arms one recompute per debounce window, which computes every connected node's map from one
 * read of the store and sends those whose fingerprint differs from the one the session was
 * sent. Part of `Sessions`, which says when something a map shows changed.
 */
export class MapPush {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #sessions: () => ReadonlyMap<string, AgentSession>;
  readonly #debounceMs: number;
  /** Set while a recompute is due. */
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(deps: MapPushDeps, debounceMs: number) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#sessions = deps.sessions;
    this.#debounceMs = debounceMs;
  }

  /**
   * Something a map shows changed, or a session needs its first map: recompute every connected
   * node's map once the debounce window (from the first change) ends. Watch listeners run
   * inside the store's commit path, so this only arms a timer.
   */
  markDirty(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = this.#clock.setTimer(this.#debounceMs, () => {
      this.#timer = undefined;
      if (this.#closed) return;
      try {
        this.#push();
      } catch (err) {
        // A bug, not a state: the next change tries again.
        this.#logger.error({ err }, 'cannot compute the network maps');
      }
    });
  }

  /** No more pushes; a due recompute is cancelled. */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
  }

  /** Computes the connected nodes' maps from one read of the store; sends each that changed. */
  #push(): void {
    const sessions = this.#sessions();
    if (sessions.size === 0) return;
    const maps = networkMapsFor(sessions.keys(), this.#snapshot(), this.#store.revision);
    for (const [nodeId, s] of sessions) {
      const map = maps.get(nodeId);
      if (!map) continue;
      const fp = mapFingerprint(map);
      if (fp === s.mapSent) continue;
      s.mapSent = fp;
      s.sendEncoded(encodeNetworkMapMessage(map));
    }
  }

  /** The store as the maps see it; every read is synchronous, so this is one consistent state. */
  #snapshot(): NetworkMapSnapshot {
    const store = this.#store;
    return {
      networks: store.table('network').all(),
      services: store.services.all(),
      tasksOf: (id) => store.tasks.byService(id),
      node: (id) => store.nodes.get(id),
    };
  }
}
