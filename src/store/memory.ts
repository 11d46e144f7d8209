import { SqliteBackend } from './sqlite/sqlite-backend.ts';
import { Store, type StoreOptions } from './store.ts';

/**
 * A store on a private in-memory SQLite database, for tests and simulations: the real code
 * path (JSON, SQLite, watch), nothing on disk. `close()` closes the database too.
 */
export function openMemoryStore(options: Omit<StoreOptions, 'closeBackend'> = {}): Promise<Store> {
  return Store.open(SqliteBackend.open(':memory:'), { ...options, closeBackend: true });
}
