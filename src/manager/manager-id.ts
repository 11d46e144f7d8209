import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newId } from '../lib/ids.ts';

/** The file in the manager's data dir that keeps its id across restarts. */
export const MANAGER_ID_FILE = 'manager-id';

/**
 * This manager's id (its member id in `GET /v1/managers` and `Leadership.members()`, the writer
 * its etcd commits name): the one kept in `<dataDir>/manager-id`, or a new one when there is
 * none yet. Nothing is written: `keepManagerId` keeps it once the manager may start (a refused
 * join writes nothing). Stable per data dir.
 */
export async function managerId(dataDir: string): Promise<string> {
  try {
    const id = (await readFile(join(dataDir, MANAGER_ID_FILE), 'utf8')).trim();
    if (id !== '') return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return newId();
}

/** Keeps `id` in `<dataDir>/manager-id` (written atomically) unless it is kept there already. */
export async function keepManagerId(dataDir: string, id: string): Promise<void> {
  const file = join(dataDir, MANAGER_ID_FILE);
  const kept = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  if (kept.trim() === id) return;
  await writeFile(`${file}.tmp`, `${id}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}
