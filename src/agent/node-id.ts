import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The file in the agent's data dir that keeps the node's id across restarts. */
export const NODE_ID_FILE = 'node-id';

/** The node id saved in `dir`, or undefined on a node's first start. */
export async function loadNodeId(dir: string): Promise<string | undefined> {
  try {
    const id = (await readFile(join(dir, NODE_ID_FILE), 'utf8')).trim();
    return id === '' ? undefined : id;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Saves the node id atomically (write then rename). */
export async function saveNodeId(dir: string, id: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, NODE_ID_FILE);
  await writeFile(`${file}.tmp`, `${id}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * The node's id, created and saved on first use. Composition roots call this before building
 * drivers that need the id (the fake and docker drivers label and recover tasks by node); the
 * manager registers a node under the id its agent proposes.
 */
export async function ensureNodeId(dir: string, create: () => string): Promise<string> {
  const existing = await loadNodeId(dir);
  if (existing !== undefined) return existing;
  const id = create();
  await saveNodeId(dir, id);
  return id;
}
