import { dirname } from 'node:path';
import type { LoaderFs } from './load.ts';

/** An in-memory file system for the loader, for tests: absolute path → text. */
export function memFs(files: Readonly<Record<string, string>>): LoaderFs {
  const dirs = new Set(Object.keys(files).map((f) => dirname(f)));
  return {
    readText: (path) => files[path],
    exists: (path) => Object.hasOwn(files, path) || dirs.has(path),
  };
}
