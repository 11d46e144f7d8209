import type Docker from 'dockerode';
import { compareAttachedContainers, isAttachedContainer, MAX_ATTACHED_CONTAINERS, type AttachedContainer } from '../../api/network.ts';
import { cidr, contains, parseIp } from '../../lib/cidr.ts';
import type { Clock, TimerHandle } from '../../lib/clock.ts';
import type { Logger } from '../../lib/logger.ts';
import { TASK_LABELS } from '../../api/service.ts';
import type { LocalNetwork } from './local-network.ts';

/**
 * The plain containers (`docker run --network NAME`, not tasks) on this node's attachable
 * networks: found in the engine, kept current (Docker's `network` connect/disconnect events,
 * debounced, and a periodic re-list, level-triggered), and reported whole to the manager
 * whenever the set changes, so the network map carries them and tasks resolve them by name.
 * It also tells the DNS server which networks a plain container is on (`networksOf`): Docker's
 * resolver forwards its queries from the container's own address.
 */

/** A name or alias as `AttachedContainer` takes it. */
const NAME_CHECK = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export interface AttachedContainersDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** The plain containers on `networks` now (`dockerContainerLister`). */
  list(networks: readonly LocalNetwork[]): Promise<AttachedContainer[]>;
  /**
   * Optional: calls `onChange` on each engine event that may change them, `onEnd` when the
   * event stream ends; returns a function that stops watching (`dockerNetworkEvents`).
   */
  watch?(onChange: () => void, onEnd: (err?: unknown) => void): () => void;
}

export interface AttachedContainersOptions {
  /** Wait after an event before re-listing (a burst makes one listing). Default 50 ms. */
  readonly debounceMs?: number;
  /** Re-list this often anyway. Default 10 s. */
  readonly resyncMs?: number;
}

export class AttachedContainers {
  readonly #deps: AttachedContainersDeps;
  readonly #debounceMs: number;
  readonly #resyncMs: number;
  #networks: readonly LocalNetwork[] = [];
  /** Whether a map has set the networks yet (nothing is listed or reported before). */
  #mapped = false;
  #current: AttachedContainer[] | undefined;
  #byIp = new Map<string, string[]>();
  #report: ((containers: AttachedContainer[]) => void) | undefined;
  #timer: TimerHandle | undefined;
  #resync: TimerHandle | undefined;
  #stopWatch: (() => void) | undefined;
  #running = false;
  #listing: Promise<void> | undefined;
  #again = false;
  /** Containers already logged as not reportable, and whether the cap was. */
  readonly #warned = new Set<string>();
  #warnedCap = false;

  constructor(deps: AttachedContainersDeps, options: AttachedContainersOptions = {}) {
    this.#deps = deps;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#resyncMs = options.resyncMs ?? 10_000;
  }

  /** Who hears about changes: called with the whole set after the first listing and on each change. */
  onReport(report: (containers: AttachedContainer[]) => void): void {
    this.#report = report;
    if (this.#current !== undefined) report(this.#current);
  }

  /** The networks of the plain container at `ip` (dotted), or undefined when none is known there. */
  networksOf(ip: string): string[] | undefined {
    return this.#byIp.get(ip);
  }

  /** The node's networks now (from each map): its attachable ones are watched. The first call starts the listings. */
  setNetworks(networks: readonly LocalNetwork[]): void {
    const attachable = networks.filter((n) => n.attachable && n.containerRange !== undefined);
    const key = (list: readonly LocalNetwork[]): string => list.map((n) => `${n.id}:${n.dockerNetwork}:${n.containerRange ?? ''}`).join(' ');
    const first = !this.#mapped;
    this.#mapped = true;
    if (!first && key(attachable) === key(this.#networks)) return;
    this.#networks = attachable;
    this.poke();
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#watch();
    this.#scheduleResync();
    this.poke();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#resync?.cancel();
    this.#stopWatch?.();
    this.#stopWatch = undefined;
    await this.#listing;
  }

  /**
   * Something may have changed: re-list after the debounce. Not before the first map: until then
   * the attachable networks are unknown, and an empty report would erase the set the manager
   * holds from before the agent restarted.
   */
  poke(): void {
    if (!this.#running || !this.#mapped || this.#timer) return;
    this.#timer = this.#deps.clock.setTimer(this.#debounceMs, () => {
      this.#timer = undefined;
      this.#refresh();
    });
  }

  /** Re-lists now (one at a time; a request meanwhile makes one more). */
  #refresh(): void {
    if (!this.#mapped) return;
    if (this.#listing) {
      this.#again = true;
      return;
    }
    this.#listing = this.#listOnce().finally(() => {
      this.#listing = undefined;
      if (this.#again && this.#running) {
        this.#again = false;
        this.#refresh();
      }
    });
  }

  async #listOnce(): Promise<void> {
    let found: AttachedContainer[];
    try {
      found = this.#networks.length === 0 ? [] : await this.#deps.list(this.#networks);
    } catch (err) {
      this.#deps.logger.warn({ err }, 'cannot list the plain containers on attachable networks');
      return;
    }
    const ranges = new Map(this.#networks.map((n) => [n.id, n.containerRange === undefined ? undefined : cidr(n.containerRange)]));
    const inRange = found
      .filter((c) => {
        // Docker hands out only its range; an address outside (`--ip` given) could be a task's.
        const range = ranges.get(c.networkId);
        const ip = parseIp(c.addr.split('/')[0] ?? '');
        return range !== undefined && ip !== undefined && contains(range, ip);
      })
      .map((c) => this.#valid(c))
      .filter((c) => c !== undefined)
      .sort(compareAttachedContainers);
    if (inRange.length > MAX_ATTACHED_CONTAINERS && !this.#warnedCap) {
      this.#warnedCap = true;
      this.#deps.logger.warn({ found: inRange.length, max: MAX_ATTACHED_CONTAINERS }, 'more plain containers on attachable networks than a node reports; the rest are not resolvable by name');
    }
    const kept = inRange.slice(0, MAX_ATTACHED_CONTAINERS);
    // A container on several networks: its queries come from one of its addresses; answer them
    // from the network of that address first, then its others.
    const byContainer = new Map<string, string[]>();
    for (const c of kept) byContainer.set(c.containerId, [...(byContainer.get(c.containerId) ?? []), c.networkId]);
    const byIp = new Map<string, string[]>();
    for (const c of kept) {
      const all = byContainer.get(c.containerId) ?? [];
      byIp.set(c.addr.split('/')[0] ?? '', [c.networkId, ...all.filter((id) => id !== c.networkId)]);
    }
    this.#byIp = byIp;
    if (this.#current !== undefined && JSON.stringify(this.#current) === JSON.stringify(kept)) return;
    this.#current = kept;
    this.#deps.logger.debug({ containers: kept.map((c) => `${c.name}@${c.addr}`) }, 'plain containers on attachable networks');
    this.#report?.(kept);
  }

  /**
   * `c` as it can be reported: aliases that are not names left out; undefined (logged once per
   * container) when its name is not one the manager takes (Docker allows any length, we 128).
   */
  #valid(c: AttachedContainer): AttachedContainer | undefined {
    const aliases = c.aliases.filter((a) => NAME_CHECK.test(a)).slice(0, 32);
    const out = aliases.length === c.aliases.length ? c : { ...c, aliases };
    if (isAttachedContainer(out)) return out;
    if (!this.#warned.has(c.containerId)) {
      if (this.#warned.size >= 10_000) this.#warned.clear();
      this.#warned.add(c.containerId);
      this.#deps.logger.warn({ container: c.containerId, name: c.name.slice(0, 200) }, 'plain container not reported: its name is not one tasks can resolve (letters, digits, _ . -, at most 128)');
    }
    return undefined;
  }

  #watch(): void {
    if (!this.#deps.watch || !this.#running) return;
    this.#stopWatch = this.#deps.watch(
      () => this.poke(),
      (err) => {
        this.#stopWatch = undefined;
        if (!this.#running) return;
        if (err !== undefined) this.#deps.logger.debug({ err }, 'docker event stream ended; watching again in 1 s');
        this.#deps.clock.setTimer(1_000, () => {
          this.#watch();
          this.poke();
        });
      },
    );
  }

  #scheduleResync(): void {
    this.#resync = this.#deps.clock.setTimer(this.#resyncMs, () => {
      if (!this.#running) return;
      this.poke();
      this.#scheduleResync();
    });
  }
}

/** Lists the running plain (non-task) containers on each network through the engine. */
export function dockerContainerLister(docker: Docker): (networks: readonly LocalNetwork[]) => Promise<AttachedContainer[]> {
  return async (networks) => {
    const out: AttachedContainer[] = [];
    for (const n of networks) {
      const list = await docker.listContainers({ filters: { network: [n.dockerNetwork] } });
      for (const c of list) {
        if (c.Labels?.[TASK_LABELS.taskId] !== undefined) continue;
        const name = (c.Names?.[0] ?? '').replace(/^\//, '');
        let endpoint = c.NetworkSettings?.Networks?.[n.dockerNetwork] as { IPAddress?: string; IPPrefixLen?: number; Aliases?: string[] | null } | undefined;
        if (!endpoint?.IPAddress || name === '') continue;
        // The list leaves out aliases (`--network-alias`): the container's own view has them.
        try {
          const info = await docker.getContainer(c.Id).inspect();
          endpoint = (info.NetworkSettings.Networks[n.dockerNetwork] as typeof endpoint) ?? endpoint;
        } catch {
          continue; // gone meanwhile
        }
        const ip = endpoint?.IPAddress;
        if (!ip) continue;
        const aliases = (endpoint?.Aliases ?? []).filter((a) => a !== name && NAME_CHECK.test(a)).slice(0, 32);
        out.push({ networkId: n.id, containerId: c.Id, name, aliases, addr: `${ip}/${n.prefix}` });
      }
    }
    return out;
  };
}

/** Docker's `network` events (a container connected or disconnected), as `AttachedContainersDeps.watch`. */
export function dockerNetworkEvents(docker: Docker): NonNullable<AttachedContainersDeps['watch']> {
  return (onChange, onEndOnce) => {
    let stream: NodeJS.ReadableStream | undefined;
    let stopped = false;
    let ended = false;
    const onEnd = (err?: unknown): void => {
      if (ended || stopped) return;
      ended = true;
      onEndOnce(err);
    };
    docker.getEvents({ filters: { type: ['network'], event: ['connect', 'disconnect'] } }).then(
      (s) => {
        if (stopped) {
          (s as unknown as { destroy?: () => void }).destroy?.();
          return;
        }
        stream = s;
        s.on('data', () => onChange());
        s.on('error', (err: unknown) => onEnd(err));
        s.on('end', () => onEnd());
      },
      (err: unknown) => onEnd(err),
    );
    return () => {
      stopped = true;
      (stream as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    };
  };
}
