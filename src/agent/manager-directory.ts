import type { ManagerEntry } from '../api/managers.ts';

/**
 * The managers an agent knows, as kept in its data dir (`managers-file.ts`): every address,
 * the preferred first, and the last leader it knew.
 */
export interface KnownManagers {
  readonly managers: readonly string[];
  readonly leader?: string;
}

/** What `ManagerDirectory` tells its listeners after each change. */
export interface DirectoryChange {
  /** The list as it should be kept (changed or not). */
  readonly known: KnownManagers;
  /** The manager the session is attached to now, if any. */
  readonly attachedTo: string | undefined;
}

/** Most addresses kept: current members first, then those seen before, then the configured one. */
export const MAX_KNOWN_MANAGERS = 16;

/**
 * Which manager an agent's session goes to next. Only the leader holds agent sessions; the
 * directory keeps every manager it has heard of (the configured address, the lists of `welcome`
 * and `managers` messages, those of refusals, the list saved in the data dir) and hands out
 * addresses in this order: a leader a refusal just named, at once; after a dropped session the
 * last leader, then the others, one round after another (the session backs off between
 * attempts). Pure: no I/O, no timers; the agent persists what `onChange` reports.
 */
export class ManagerDirectory {
  /** The configured address (`flotilla join MANAGER`): always kept. */
  readonly seed: string;
  #known: string[];
  #leader: string | undefined;
  #queue: string[] = [];
  #trying: string | undefined;
  #attached: string | undefined;
  readonly #listeners = new Set<(change: DirectoryChange) => void>();

  constructor(seed: string, saved?: KnownManagers) {
    this.seed = seed;
    this.#known = [seed];
    if (saved) this.restore(saved);
  }

  /** Every known address, the preferred first (the leader, members, then the others). */
  get addresses(): readonly string[] {
    return this.#order();
  }

  /** The last leader known (named by a manager or attached to). */
  get leader(): string | undefined {
    return this.#leader;
  }

  /** The manager the session is attached to now (welcomed by it), else undefined. */
  get attachedTo(): string | undefined {
    return this.#attached;
  }

  /** The address the last `next()` handed out (the attempt in progress or just over). */
  get trying(): string | undefined {
    return this.#trying;
  }

  /** Calls `listener` after each change of the list, the leader or the attachment. Returns the unsubscribe. */
  onChange(listener: (change: DirectoryChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** What to keep in the data dir. */
  snapshot(): KnownManagers {
    return { managers: this.#order(), ...(this.#leader === undefined ? {} : { leader: this.#leader }) };
  }

  /** Takes a saved list (a restarted agent): its addresses after what is known, its leader when none is. */
  restore(saved: KnownManagers): void {
    this.#known = cap(unique([...this.#known.filter((a) => a !== this.seed), ...saved.managers, this.seed]), this.seed);
    this.#leader ??= saved.leader !== undefined && this.#known.includes(saved.leader) ? saved.leader : undefined;
  }

  /** The address for the next connection attempt. */
  next(): string {
    if (this.#queue.length === 0) this.#queue = this.#order();
    const addr = this.#queue.shift() ?? this.seed;
    this.#trying = addr;
    return addr;
  }

  /** The manager at `addr` (the attempt in progress, by default) welcomed the node: it leads. */
  attached(addr = this.#trying ?? this.seed): void {
    this.#attached = addr;
    this.#leader = addr;
    this.#add(addr);
    // After a drop, a fresh round: this leader first.
    this.#queue = [];
    this.#emit();
  }

  /** The session ended. */
  detached(): void {
    if (this.#attached === undefined) return;
    this.#attached = undefined;
    this.#emit();
  }

  /**
   * A manager list from the cluster (welcome, `managers`, a refusal): its members first, the
   * leader it marks remembered. Addresses known before stay (a stopped manager is not a member
   * but may come back), after the members, up to `MAX_KNOWN_MANAGERS`.
   */
  learn(managers: readonly ManagerEntry[]): void {
    if (managers.length === 0) return;
    const members = managers.map((m) => m.addr);
    const leader = managers.find((m) => m.leader)?.addr;
    const known = cap(unique([...(leader === undefined ? [] : [leader]), ...members, ...this.#known]), this.seed);
    const changed = known.join() !== this.#known.join() || (leader !== undefined && leader !== this.#leader);
    this.#known = known;
    if (leader !== undefined) this.#leader = leader;
    this.#queue = this.#queue.filter((a) => known.includes(a));
    if (changed) this.#emit();
  }

  /**
   * A refusal or a "leader moved" notice named the leader: it is tried next, at once. False
   * (nothing to do at once) when it names the manager that refused (a stale list).
   */
  redirect(leader: string, from = this.#trying): boolean {
    if (leader === from) return false;
    const changed = leader !== this.#leader || !this.#known.includes(leader);
    this.#leader = leader;
    this.#add(leader);
    this.#queue = [leader, ...this.#queue.filter((a) => a !== leader)];
    if (changed) this.#emit();
    return true;
  }

  /** The leader first, then the rest as known. */
  #order(): string[] {
    return this.#leader === undefined ? [...this.#known] : unique([this.#leader, ...this.#known]);
  }

  #add(addr: string): void {
    if (!this.#known.includes(addr)) this.#known = cap([addr, ...this.#known], this.seed);
  }

  #emit(): void {
    const change = { known: this.snapshot(), attachedTo: this.#attached };
    for (const l of this.#listeners) l(change);
  }
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list.filter((a) => a !== ''))];
}

/** At most `MAX_KNOWN_MANAGERS`, the seed always among them. */
function cap(list: string[], seed: string): string[] {
  if (list.length <= MAX_KNOWN_MANAGERS) return list.includes(seed) ? list : [...list.slice(0, MAX_KNOWN_MANAGERS - 1), seed];
  const kept = list.filter((a) => a !== seed).slice(0, MAX_KNOWN_MANAGERS - 1);
  return [...kept, seed];
}
