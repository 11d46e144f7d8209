import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, normalize, relative, resolve } from 'node:path';
import type { StackDryRunResult } from '../api/stack.ts';
import { ClientError, type FlotillaClient, type StackSpecInput } from '../client/client.ts';
import { decodeUtf8, notUtf8Message } from '../compose/utf8.ts';

/**
 * What `stack deploy` sends, gathered through dry runs: the server loads the compose files;
 * when they read a file (`.env`, `env_file`, `extends`, secret and config files) or a variable
 * the request does not carry, the dry run names it, and it is read here and sent with the next
 * one (or listed as missing / unset). Files are keyed by their path relative to the project
 * directory (the first compose file's), so the request carries exactly what the files use
 * and no path of this machine but the project directory itself (`workingDir`, which relative
 * bind mounts and messages need; the server does not keep it). Problems in the files come back
 * from the dry run as a `ClientError` (`invalid_argument`, one detail per problem).
 */

/** Variables the loader reads besides the ones the files name. */
const LOADER_VARIABLES = ['HOME', 'COMPOSE_PROFILES', 'COMPOSE_PROJECT_NAME'];

/** A compose project reads a handful of files; a server asking on and on is not loading one. */
const MAX_ROUNDS = 32;

export interface SourceOptions {
  readonly name: string;
  readonly files: readonly string[];
  readonly profiles: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly prune?: boolean;
}

/** The largest file sent (the manager takes a stack request of at most 16 MiB). */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** A file's text, or undefined when there is no such regular file. */
function readText(path: string): string | undefined {
  try {
    // Only regular files of a bounded size: never a device, a pipe or a socket.
    const st = statSync(path);
    if (!st.isFile()) return undefined;
    if (st.size > MAX_FILE_BYTES) throw new ClientError('invalid_argument', `${path} is ${st.size} bytes, more than a stack can carry (${MAX_FILE_BYTES} bytes)`);
    // Strictly: a byte that is not UTF-8 is refused here, where it is still a byte (sent as text, it would be U+FFFD).
    const read = decodeUtf8(readFileSync(path));
    if ('text' in read) return read.text;
    throw new ClientError('invalid_argument', `${path}:${read.notUtf8.line}:${read.notUtf8.col}: ${notUtf8Message(read.notUtf8)}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Whether the manager may ask for `key`: a normalized path relative to the project directory
 * that names its file in one way, as the manager itself checks the keys it is sent. A key of
 * any other shape is not something a compose project reads, and is never read.
 */
function isProjectKey(key: string, dir: string): boolean {
  return key !== '' && !isAbsolute(key) && normalize(key) === key && relative(dir, resolve(dir, key)) === key;
}

/** The complete stack request, and the server's plan of it (what a deploy would change now). */
export async function gatherStackSource(client: Pick<FlotillaClient, 'planStack'>, options: SourceOptions): Promise<{ spec: StackSpecInput; plan: StackDryRunResult }> {
  const composePaths = options.files.map((f) => resolve(options.cwd, f));
  const workingDir = dirname(composePaths[0] ?? resolve(options.cwd));
  const files = new Map<string, string>();
  const missingFiles = new Set<string>();
  const environment: Record<string, string> = {};
  const unsetVariables = new Set<string>();
  const read = (key: string): boolean => {
    if (files.has(key) || missingFiles.has(key)) return false;
    const text = readText(resolve(workingDir, key));
    if (text === undefined) missingFiles.add(key);
    else files.set(key, text);
    return true;
  };
  const lookup = (name: string): boolean => {
    if (Object.hasOwn(environment, name) || unsetVariables.has(name)) return false;
    const v = options.env[name];
    if (v === undefined) unsetVariables.add(name);
    else environment[name] = v;
    return true;
  };
  const composeFiles = composePaths.map((p) => relative(workingDir, p));
  // What every load reads: the compose files, the project's .env, the loader's own variables.
  for (const key of [...composeFiles, '.env']) read(key);
  for (const name of LOADER_VARIABLES) if (options.env[name] !== undefined) lookup(name);

  for (let round = 1; ; round++) {
    const spec: StackSpecInput = {
      name: options.name,
      composeFiles,
      files: [...files].map(([path, content]) => ({ path, content })),
      missingFiles: [...missingFiles],
      profiles: [...options.profiles],
      environment: { ...environment },
      unsetVariables: [...unsetVariables].sort(),
      workingDir,
    };
    const plan = await client.planStack(spec, { prune: options.prune === true });
    const { needs } = plan;
    if (needs.files.length === 0 && needs.variables.length === 0) return { spec, plan };
    const odd = needs.files.find((key) => !isProjectKey(key, workingDir));
    if (odd !== undefined) throw new ClientError('protocol', `the manager asked for ${JSON.stringify(odd)}, which is not a path relative to the project directory ${workingDir}; nothing was sent`);
    let progress = false;
    for (const key of needs.files) progress = read(key) || progress;
    for (const name of needs.variables) progress = lookup(name) || progress;
    if (!progress || round >= MAX_ROUNDS) {
      throw new ClientError('protocol', `the manager keeps asking for more of stack ${options.name} (${[...needs.files, ...needs.variables].join(', ')}) after ${round} round(s)`);
    }
  }
}
