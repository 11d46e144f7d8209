/** One reason a node was turned down, in singular and plural wording. `key` groups equal reasons. */
export interface Failure {
  readonly key: string;
  readonly one: string;
  readonly many: string;
}

/**
 * Counts of nodes per failure, worded for a task's status message the way Swarm and Nomad
 * do: `no suitable node (3 nodes lack 2 CPUs; 1 node not ready)`. Reasons are listed most
 * frequent first, ties in the order they were first seen (pipeline order), so the message is
 * stable from one plan to the next.
 */
export class Tally {
  readonly #entries = new Map<string, { failure: Failure; count: number }>();

  add(failure: Failure, count = 1): void {
    const e = this.#entries.get(failure.key);
    if (e) e.count += count;
    else this.#entries.set(failure.key, { failure, count });
  }

  /** Adds every count of another tally. */
  addAll(other: Tally): void {
    for (const e of other.#entries.values()) this.add(e.failure, e.count);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** `3 nodes lack 2 CPUs; 1 node not ready`. */
  text(): string {
    return [...this.#entries.values()]
      .map((e, order) => ({ ...e, order }))
      .sort((a, b) => b.count - a.count || a.order - b.order)
      .map((e) => `${e.count} ${e.count === 1 ? e.failure.one : e.failure.many}`)
      .join('; ');
  }
}

/** The status message of a task no node can take. */
export function noSuitableNode(tally: Tally): string {
  return tally.size === 0 ? 'no suitable node (no nodes in the cluster)' : `no suitable node (${tally.text()})`;
}

/** `1 CPU`, `2 CPUs`, `0.25 CPUs` from nanoCPUs. */
export function formatCpus(nanoCpus: number): string {
  const cpus = nanoCpus / 1e9;
  return `${trim(cpus)} ${cpus === 1 ? 'CPU' : 'CPUs'}`;
}

/** `512 MiB`, `1.5 GiB`, `800 B` from bytes. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${trim(v)} ${units[u]}`;
}

function trim(v: number): string {
  return String(Math.round(v * 100) / 100);
}
