import type { StoredObject, TableReader } from './tables.ts';

/**
 * Reads shared by the committed tables and the transaction views: the named accessors are
 * spelled once here on top of `get`/`all`/`by`. Each table's public type (`ServicesReader`,
 * `TasksReader`, …) exposes only the accessors that make sense for its kind.
 */
export abstract class ReadTable<T extends StoredObject> implements TableReader<T> {
  abstract get(id: string): T | undefined;
  abstract all(): T[];
  abstract by(index: string, value: string): T[];
  abstract get size(): number;

  byName(name: string): T | undefined {
    return this.by('name', name)[0];
  }

  byService(serviceId: string): T[] {
    return this.by('service', serviceId);
  }

  byNode(nodeId: string): T[] {
    return this.by('node', nodeId);
  }

  byDesiredState(state: string): T[] {
    return this.by('desiredState', state);
  }
}
