import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { checkReferences } from './check.ts';
import { parseDotenv } from './dotenv.ts';
import { resolveEnvFiles } from './env-files.ts';
import { ComposeError, fail, withWarnings } from './errors.ts';
import { resolveExtends } from './extends.ts';
import { applyIncludes, MAX_FILE_LOADS, TOO_MANY_FILES, type IncludedFileLoad } from './include.ts';
import { interpolateTree, type Lookup } from './interpolate.ts';
import { mergeModels } from './merge.ts';
import type { ComposeModel, ComposeProject } from './model.ts';
import { normalizeFile } from './normalize.ts';
import { applyProfiles, enabledProfiles } from './profiles.ts';
import { COMPOSE_FILE_SCHEMA } from './schema.ts';
import { isEmptyFile, parseYaml, posOfKey } from './source.ts';
import { decodeUtf8, notUtf8Message } from './utf8.ts';
import { validate } from './validate.ts';

/** The file system the loader reads; tests may pass their own. */
export interface LoaderFs {
  /** A file's text, or undefined when it does not exist. */
  readText(path: string): string | undefined;
  exists(path: string): boolean;
}

/** What to load. Only `files` is required. */
export interface LoadOptions {
  /** Compose files in order; later ones override earlier ones. Relative to `cwd`. */
  readonly files: readonly string[];
  /** Default: the process's working directory. */
  readonly cwd?: string;
  /** The environment variables interpolation sees (default: the process's). They win over `.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Profiles to enable, besides `COMPOSE_PROFILES`. */
  readonly profiles?: readonly string[];
  /** Overrides the project name (like `docker compose -p`). */
  readonly projectName?: string;
  readonly fs?: LoaderFs;
}

/** A loaded project and what the user should know about it (unset variables, obsolete keys). */
export interface LoadResult {
  readonly project: ComposeProject;
  readonly warnings: readonly string[];
}

const realFs: LoaderFs = {
  readText: (path) => {
    try {
      const read = decodeUtf8(readFileSync(path));
      if ('text' in read) return read.text;
      const { line, col } = read.notUtf8;
      throw new ComposeError([{ code: 'syntax', pos: { file: path, line, col }, path: '', message: notUtf8Message(read.notUtf8) }]);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'EISDIR') return undefined;
      throw err;
    }
  },
  exists: (path) => existsSync(path),
};

/**
 * Loads compose files into a normalized project: parse (positions kept) → interpolate (the
 * environment, then a `.env` next to the first file) → validate shape → normalize to long
 * syntax → apply each file's `include` → merge the files in order → resolve `extends` → apply profiles → fold `env_file`
 * into `environment` → check references, dependency cycles and files. Throws a ComposeError
 * whose every problem has file:line:column and the field path, and which carries the warnings
 * found before the failure.
 */
export function loadProject(options: LoadOptions): LoadResult {
  if (options.files.length === 0) throw new ComposeError([{ code: 'missing_file', pos: undefined, path: '', message: 'no compose file given' }]);
  const fs = options.fs ?? realFs;
  const cwd = options.cwd ?? process.cwd();
  const given = options.env ?? process.env;
  // Strings only: `${constructor}` is unset, not Object's constructor. (Read, not `Object.hasOwn`:
  // the manager's environment is a proxy that records each name read.)
  const processEnv = (n: string): string | undefined => {
    const v = given[n];
    return typeof v === 'string' ? v : undefined;
  };
  const files = options.files.map((f) => resolve(cwd, f));
  const projectDir = dirname(files[0] ?? cwd);
  const warnings: string[] = [];

  const dotenvPath = join(projectDir, '.env');
  const dotenvText = fs.readText(dotenvPath);
  const fromDotenv = dotenvText === undefined ? new Map<string, string>() : parseDotenv(dotenvText, dotenvPath, processEnv);
  const lookup: Lookup = (n) => processEnv(n) ?? fromDotenv.get(n);
  const env: Record<string, string | undefined> = { ...Object.fromEntries(fromDotenv), ...given };

  let loads = 0;
  let definesSomething = false;
  const loadFile = (load: IncludedFileLoad): ComposeModel => {
    const { file, baseDir, from } = load;
    if (++loads > MAX_FILE_LOADS) {
      const problem = { code: 'invalid_value' as const, pos: from?.pos, path: from?.path ?? '', message: `more than ${MAX_FILE_LOADS} compose files to read: includes or extends fan out too far` };
      throw new ComposeError([problem], { cause: TOO_MANY_FILES });
    }
    const text = fs.readText(file);
    if (text === undefined) {
      if (from) fail('missing_file', from.pos, from.path, `cannot read ${file}: no such file`);
      fail('missing_file', undefined, '', `cannot read compose file ${file}: no such file`);
    }
    const parsed = parseYaml(text, file);
    if (isEmptyFile(parsed.value)) return normalizeFile({}, { baseDir, lookup: load.lookup, home: env['HOME'] });
    definesSomething = true;
    const w = interpolateTree(parsed.value, load.lookup);
    for (const x of w) if (!warnings.includes(x)) warnings.push(x);
    validate(parsed.value, COMPOSE_FILE_SCHEMA, { file, line: 1, col: 1 });
    const version = posOfKey(parsed.value, 'version');
    if (version) warnings.push(`${file}:${version.key.line}:${version.key.col}: the top-level "version" is obsolete and ignored`);
    const model = normalizeFile(parsed.value, { baseDir, lookup: load.lookup, home: env['HOME'] });
    const include = (parsed.value as Record<string, unknown>)['include'];
    return applyIncludes(model, include, { baseDir, lookup: load.lookup, chain: load.chain }, { readText: (p) => fs.readText(p), loadFile });
  };
  const topLevel = (file: string, baseDir: string): ComposeModel => loadFile({ file, baseDir, lookup, chain: [{ file }] });

  try {
    // Override files take their relative paths from the project directory, as Compose does.
    let model = files.map((f) => topLevel(f, projectDir)).reduce((a, b) => mergeModels(a, b));
    // As Docker Compose: an empty override file is fine, a project of empty files is not.
    if (!definesSomething) fail('invalid_value', { file: files[0] ?? '', line: 1, col: 1 }, '', 'empty compose file: it defines no services or anything else');
    model = resolveExtends(model, files[0] ?? '', (path) => topLevel(path, dirname(path)));

    const { active, disabled } = applyProfiles(model.services, enabledProfiles(options.profiles ?? [], env));
    model = { ...model, services: active };
    resolveEnvFiles(active, (p) => fs.readText(p), lookup);
    checkReferences(model, disabled, { exists: (p) => fs.exists(p) });

    const name = projectName(options.projectName ?? env['COMPOSE_PROJECT_NAME'] ?? model.name ?? basename(projectDir));
    const project: ComposeProject = { ...model, name, workingDir: projectDir, disabledServices: disabled };
    return { project, warnings };
  } catch (err) {
    // What the load found before it failed is still worth saying (an unset variable may be the cause).
    throw withWarnings(err, warnings);
  }
}

/** Compose's project-name rule: lowercase letters, digits, `_` and `-`, starting with a letter or digit. */
export function projectName(raw: string): string {
  const n = raw.toLowerCase().replace(/[^a-z0-9_-]/g, '');
  if (!/^[a-z0-9]/.test(n)) {
    throw new ComposeError([{ code: 'invalid_value', pos: undefined, path: 'name', message: `invalid project name ${JSON.stringify(raw)}: expected lowercase letters, digits, "_" and "-", starting with a letter or digit` }]);
  }
  return n;
}
