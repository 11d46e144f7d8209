import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { newId } from '../lib/ids.ts';

/** The file in the manager's data dir that keeps its id across restarts. */
export const MANAGER_ID_FILE = 'manager-id';

/**
 * This manager's id (its member id in `GET /v1/managers` and `Leadership.members()`): read from
 * `<dataDir>/manager-id`, created (written atomically) on the first start. Stable per data dir.
 */
export async function ensureManagerId(dataDir: string): Promise<string> {
  const file = join(dataDir, MANAGER_ID_FILE);
  try {
    const id = (await readFile(file, 'utf8')).trim();
    if (id !== '') return id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const id = newId();
  await writeFile(`${file}.tmp`, `${id}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return id;
}
