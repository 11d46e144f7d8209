import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KnownManagers } from './manager-directory.ts';

/** The file in the agent's data dir that keeps every manager it knows, across restarts. */
export const MANAGERS_FILE = 'managers.json';

/**
 * The managers saved in `dir`, or undefined when none were (a node's first start, a single
 * manager). A file that is not a list of addresses is ignored, with the reason: it is a cache,
 * and the configured address still works.
 */
export async function loadManagers(dir: string): Promise<{ known?: KnownManagers; problem?: string }> {
  let text: string;
  try {
    text = await readFile(join(dir, MANAGERS_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    return { problem: `cannot read ${MANAGERS_FILE}: ${(err as Error).message}` };
  }
  try {
    const v = JSON.parse(text) as { managers?: unknown; leader?: unknown };
    if (!Array.isArray(v.managers) || !v.managers.every((a) => typeof a === 'string' && a !== '')) throw new Error('"managers" is not a list of addresses');
    if (v.leader !== undefined && typeof v.leader !== 'string') throw new Error('"leader" is not an address');
    return { known: { managers: v.managers as string[], ...(typeof v.leader === 'string' ? { leader: v.leader } : {}) } };
  } catch (err) {
    return { problem: `${MANAGERS_FILE} ignored: ${(err as Error).message}` };
  }
}

/** Saves the managers atomically (write then rename, 0600). */
export async function saveManagers(dir: string, known: KnownManagers): Promise<void> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, MANAGERS_FILE);
  await writeFile(`${file}.tmp`, `${JSON.stringify({ managers: known.managers, ...(known.leader === undefined ? {} : { leader: known.leader }) }, null, 2)}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}
