import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { StackSpec } from '../api/stack.ts';
import { loadProject, type LoaderFs, type LoadResult } from '../compose/load.ts';

/**
 * What `stack deploy` sends: the compose loader is run here with a recording file system and
 * environment, so the request carries exactly the files it read (compose files, `.env`,
 * `env_file`s, secret and config files) and the variables the files use. The server runs the
 * same loader on them and resolves the stack identically. Loading errors are thrown here as
 * the loader's `ComposeError`, before anything is sent.
 */

/** Variables the loader reads besides the ones the files name. */
const LOADER_VARIABLES = ['HOME', 'COMPOSE_PROFILES', 'COMPOSE_PROJECT_NAME'];

export interface SourceOptions {
  readonly name: string;
  readonly files: readonly string[];
  readonly profiles: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

/** Loads the files (throws `ComposeError`) and returns the stack spec to `POST /v1/stacks`. */
export function readStackSource(options: SourceOptions): { spec: StackSpec; loaded: LoadResult } {
  const read = new Map<string, string>();
  const fs: LoaderFs = {
    readText: (path) => {
      const known = read.get(path);
      if (known !== undefined) return known;
      try {
        const text = readFileSync(path, 'utf8');
        read.set(path, text);
        return text;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'EISDIR') return undefined;
        throw err;
      }
    },
    exists: (path) => existsSync(path),
  };
  const used = new Set<string>();
  const source = options.env;
  // The loader spreads the environment once (for HOME and the COMPOSE_ variables) and looks
  // every interpolated name up: only those lookups are recorded.
  const env = new Proxy({} as Record<string, string | undefined>, {
    get: (_t, key) => {
      if (typeof key !== 'string') return undefined;
      const v = source[key];
      if (v !== undefined) used.add(key);
      return v;
    },
    ownKeys: () => LOADER_VARIABLES.filter((k) => source[k] !== undefined),
    getOwnPropertyDescriptor: (_t, key) =>
      typeof key === 'string' && LOADER_VARIABLES.includes(key) && source[key] !== undefined
        ? { value: source[key], enumerable: true, configurable: true, writable: false }
        : undefined,
    has: (_t, key) => typeof key === 'string' && source[key] !== undefined,
  });
  const loaded = loadProject({ files: options.files, cwd: options.cwd, env, profiles: options.profiles, projectName: options.name, fs });
  const environment: Record<string, string> = {};
  for (const k of [...used].sort()) {
    const v = source[k];
    if (v !== undefined) environment[k] = v;
  }
  for (const kind of ['secrets', 'configs'] as const) {
    for (const def of Object.values(loaded.project[kind])) {
      if (typeof def.file === 'string') fs.readText(def.file);
      if (typeof def.environment === 'string' && source[def.environment] !== undefined) environment[def.environment] = source[def.environment] ?? '';
    }
  }
  const spec: StackSpec = {
    name: options.name,
    composeFiles: options.files.map((f) => resolve(options.cwd, f)),
    files: [...read].map(([path, content]) => ({ path, content })),
    profiles: [...options.profiles],
    environment,
  };
  return { spec, loaded };
}
