import { isDeepStrictEqual } from 'node:util';
import { dirname, relative, resolve } from 'node:path';
import { parseDotenv } from './dotenv.ts';
import { ComposeError, fail, type ComposeProblem, type Pos } from './errors.ts';
import type { Lookup } from './interpolate.ts';
import type { ComposeModel } from './model.ts';
import { resolveExtends } from './extends.ts';
import { mergeModels } from './merge.ts';
import { copyPositions, posOfKey, posOfValue, setKeyPos } from './source.ts';

/** One file on the way from a top-level compose file to the one being loaded. */
export interface IncludeLink {
  readonly file: string;
}

/** How the per-file pipeline loads one file of an included project. */
export interface IncludedFileLoad {
  /** The file, absolute. */
  readonly file: string;
  /** The included project's directory: relative paths in the file resolve against it. */
  readonly baseDir: string;
  /** The included project's variables: the including project's, then its env files. */
  readonly lookup: Lookup;
  /** The chain of includes down to this file (for cycle detection), the file itself last. */
  readonly chain: readonly IncludeLink[];
  /** Where the file is named, so a missing file is reported there (absent for a file given on the command line). */
  readonly from?: { readonly pos: Pos | undefined; readonly path: string };
}

export interface IncludeDeps {
  readonly readText: (path: string) => string | undefined;
  /** The per-file pipeline (parse, interpolate, validate, normalize, includes). */
  readonly loadFile: (load: IncludedFileLoad) => ComposeModel;
}

/** The including file: where it is, how its relative paths resolve, what it sees. */
export interface Includer {
  readonly baseDir: string;
  readonly lookup: Lookup;
  readonly chain: readonly IncludeLink[];
}

/**
 * How many compose files one load may read (includes and `extends` files, each time one is
 * named): a real project reads a few dozen; a file that includes another twice, which includes
 * another twice, … would otherwise read 2^depth.
 */
export const MAX_FILE_LOADS = 500;

/** The `cause` of the ComposeError that stops a load over `MAX_FILE_LOADS` (never collected, always thrown at once). */
export const TOO_MANY_FILES: unique symbol = Symbol('too many compose files');

/** The top-level resources an included project contributes. */
const KINDS = ['services', 'volumes', 'networks', 'secrets', 'configs'] as const;

/**
 * Applies a file's top-level `include` (validated: a list of paths or `{path, project_directory,
 * env_file}`) to its model, as the Compose Specification and compose-go define it. Each entry
 * is loaded as a project of its own: `path` (one file, or several merged in order) relative
 * to the including project's directory; its project directory is `project_directory` (relative
 * to the including one) or the first file's directory, and relative paths inside it resolve
 * against that; its variables are the including project's, then its `env_file`s (relative to
 * the including project; default: the `.env` of its project directory, if there is one).
 * Nested includes apply recursively; a file that includes itself, directly or not, is an error
 * naming the chain. The included services, volumes, networks, secrets and configs are added to
 * the model; one that is also defined locally (or by an earlier include) differently is an
 * error (compose-go's rule: included resources are never merged).
 */
export function applyIncludes(model: ComposeModel, include: unknown, includer: Includer, deps: IncludeDeps): ComposeModel {
  if (!Array.isArray(include) || include.length === 0) return model;
  const out: ComposeModel = { ...model };
  for (const kind of KINDS) {
    out[kind] = { ...model[kind] } as never;
    copyPositions(model[kind], out[kind]);
  }
  const origin = new Map<string, string>();
  const problems: ComposeProblem[] = [];
  include.forEach((entry: unknown, i) => {
    const at = posOfValue(include, i);
    let loaded: { sub: ComposeModel; first: string };
    try {
      loaded = loadEntry(normalizeEntry(entry), at, `include[${i}]`, includer, deps);
    } catch (err) {
      // Every entry is tried, so the manager's load learns of every missing file of this level at once.
      if (!(err instanceof ComposeError) || err.cause === TOO_MANY_FILES) throw err;
      problems.push(...err.problems);
      return;
    }
    const { sub, first } = loaded;
    for (const kind of KINDS) {
      const target = out[kind] as Record<string, unknown>;
      for (const [name, def] of Object.entries(sub[kind])) {
        const existing = target[name];
        if (existing !== undefined) {
          if (isDeepStrictEqual(existing, def)) continue;
          const from = origin.get(`${kind}.${name}`);
          problems.push({
            code: 'reference',
            pos: from === undefined ? (posOfKey(model[kind], name)?.key ?? at) : at,
            path: `${kind}.${name}`,
            message: `conflicts with the ${kind.slice(0, -1)} "${name}" of included ${first}${from === undefined ? '' : ` (also included from ${from})`}: an included resource is never merged; rename one of them`,
          });
          continue;
        }
        target[name] = def;
        origin.set(`${kind}.${name}`, first);
        setKeyPos(target, name, posOfKey(sub[kind], name));
      }
    }
  });
  if (problems.length > 0) throw new ComposeError(problems);
  return out;
}

/** Loads one entry's project: its files merged in order, `extends` resolved inside it. */
function loadEntry(e: IncludeEntry, at: Pos | undefined, path: string, includer: Includer, deps: IncludeDeps): { sub: ComposeModel; first: string } {
  const paths = e.path.map((p) => resolve(includer.baseDir, p));
  const first = paths[0];
  if (first === undefined) fail('invalid_value', at, `${path}.path`, 'expected at least one compose file');
  // Every file of the entry is loaded on the chain, not only the first: `path: [b.yaml, compose.yaml]` closes a cycle too.
  for (const file of paths) {
    const cycleStart = includer.chain.findIndex((l) => l.file === file);
    if (cycleStart < 0) continue;
    const files = [...includer.chain.slice(cycleStart).map((l) => l.file), file];
    const base = dirname(files[0] ?? file);
    fail('cycle', at, path, `include cycle: ${files.map((f) => relative(base, f) || f).join(' -> ')}`);
  }
  const projectDir = e.project_directory === undefined ? dirname(first) : resolve(includer.baseDir, e.project_directory);
  const lookup = includedLookup(e, projectDir, includer, deps, at, path);
  const chain = [...includer.chain, { file: first }];
  const problems: ComposeProblem[] = [];
  const models: ComposeModel[] = [];
  paths.forEach((file, j) => {
    try {
      const from = { pos: at, path: e.path.length > 1 ? `${path}.path[${j}]` : `${path}.path` };
      models.push(deps.loadFile({ file, baseDir: projectDir, lookup, chain: j === 0 ? chain : [...includer.chain, { file }], from }));
    } catch (err) {
      if (!(err instanceof ComposeError) || err.cause === TOO_MANY_FILES) throw err;
      problems.push(...err.problems);
    }
  });
  if (problems.length > 0) throw new ComposeError(problems);
  const merged = models.reduce((a, b) => mergeModels(a, b));
  // A missing `extends.file` is reported at the `extends` (extends.ts), hence no `from`.
  const sub = resolveExtends(merged, first, (p) => deps.loadFile({ file: p, baseDir: dirname(p), lookup, chain: [...chain, { file: p }] }));
  return { sub, first };
}

interface IncludeEntry {
  readonly path: readonly string[];
  readonly project_directory?: string;
  readonly env_file?: readonly string[];
}

function normalizeEntry(entry: unknown): IncludeEntry {
  if (typeof entry === 'string') return { path: [entry] };
  const e = entry as { path: string | string[]; project_directory?: string; env_file?: string | string[] };
  const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);
  return {
    path: list(e.path),
    ...(e.project_directory === undefined ? {} : { project_directory: e.project_directory }),
    ...(e.env_file === undefined ? {} : { env_file: list(e.env_file) }),
  };
}

/** The included project's variables: the including project's win over its env files'. */
function includedLookup(e: IncludeEntry, projectDir: string, includer: Includer, deps: IncludeDeps, at: Pos | undefined, path: string): Lookup {
  const vars = new Map<string, string>();
  const files = e.env_file === undefined ? [resolve(projectDir, '.env')] : e.env_file.map((f) => resolve(includer.baseDir, f));
  files.forEach((file, j) => {
    const text = deps.readText(file);
    if (text === undefined) {
      // The default `.env` is optional; a named env file must exist (as compose-go has it).
      if (e.env_file !== undefined) fail('missing_file', at, `${path}.env_file${e.env_file.length > 1 ? `[${j}]` : ''}`, `env file ${file} not found`);
      return;
    }
    for (const [k, v] of parseDotenv(text, file, (n) => includer.lookup(n) ?? vars.get(n))) vars.set(k, v);
  });
  return (n) => includer.lookup(n) ?? vars.get(n);
}
