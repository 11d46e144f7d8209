import { isAbsolute, normalize, relative, resolve } from 'node:path';
import { ApiError, type ErrorDetail } from '../../api/errors.ts';
import type { StackBuild } from '../../api/build.ts';
import { STACK_WARNING_PATH, type StackNeeds, type StackSpec } from '../../api/stack.ts';
import type { ConvertedStack, StackResource } from '../../compose/convert.ts';
import { formatProblem, isComposeError, type ComposeProblem } from '../../compose/errors.ts';
import type { LoaderFs } from '../../compose/load.ts';
import { loadAndConvert, type LoadedStackProject } from '../../compose/stack.ts';

/**
 * The one place a stack's compose files are loaded: the compose loader run on the files the
 * client sent (keyed by their path relative to the project directory), on an in-memory file
 * system and the client's variables — never the manager's own environment or disk. A file or
 * variable the loader reads that the request does not carry (nor lists as missing / unset) is
 * a *need*: the client sends it and asks again (a dry run), so it never loads the files
 * itself. With every input present, each problem becomes one `invalid_argument` detail
 * reading `FILE:LINE:COL: path: message`, FILE under the client's `workingDir`, as the user
 * knows it.
 */

/** The data of one secret or config of the stack, as the files define it. */
export interface FileObjectData {
  /** The resource as the converter named and labelled it. */
  readonly resource: StackResource;
  /** Undefined for an `external` object, which the stack uses but does not own. */
  readonly data: Buffer | undefined;
}

export interface LoadedStack {
  readonly converted: ConvertedStack;
  readonly secrets: readonly FileObjectData[];
  readonly configs: readonly FileObjectData[];
  /** The builds of services with `build:` (docs/builds.md), contexts on the client. */
  readonly builds: readonly StackBuild[];
  /** Loader and converter warnings, one line each. */
  readonly warnings: readonly string[];
  /**
   * The spec to keep with the stack: without secret files, the variables secrets come from
   * and the client's working directory.
   */
  readonly stored: StackSpec;
}

/** A loaded stack, or what the request lacks before it can be loaded. */
export type StackLoad = { readonly loaded: LoadedStack } | { readonly needs: StackNeeds };

/**
 * Loads and converts `spec`. Returns `needs` when the loader read a file or variable the
 * request does not carry (whatever else went wrong: the missing input may be the cause);
 * otherwise throws `ApiError('invalid_argument')` with one detail per problem, or returns the
 * loaded stack.
 */
export function loadStack(spec: StackSpec): StackLoad {
  checkKeys(spec);
  const dir = spec.workingDir ?? '/';
  const texts = new Map<string, string>(spec.files.map((f) => [resolve(dir, f.path), f.content]));
  const missing = new Set(spec.missingFiles.map((k) => resolve(dir, k)));
  const environment = spec.environment as Record<string, string>;
  const unset = new Set(spec.unsetVariables);
  const neededFiles = new Set<string>();
  const neededVariables = new Set<string>();
  const keyOf = (path: string): string => relative(dir, path);
  const fs: LoaderFs = {
    readText: (path) => {
      const text = texts.get(path);
      if (text === undefined && !missing.has(path)) neededFiles.add(keyOf(path));
      return text;
    },
    exists: (path) => {
      if (!texts.has(path) && !missing.has(path)) neededFiles.add(keyOf(path));
      return texts.has(path);
    },
  };
  // The loader spreads the environment once and looks every interpolated name up.
  const env = new Proxy(environment, {
    get: (target, key) => {
      if (typeof key !== 'string') return undefined;
      if (Object.hasOwn(target, key)) return target[key];
      if (!unset.has(key)) neededVariables.add(key);
      return undefined;
    },
  });
  const needs = (): StackNeeds | undefined =>
    neededFiles.size + neededVariables.size === 0 ? undefined : { files: [...neededFiles].sort(), variables: [...neededVariables].sort() };

  let loaded: LoadedStackProject;
  try {
    loaded = loadAndConvert({ files: spec.composeFiles, cwd: dir, env, profiles: spec.profiles, projectName: spec.name, fs }, spec.name, spec.builtImages ?? {});
  } catch (err) {
    if (!isComposeError(err)) throw err;
    const lacking = needs();
    if (lacking) return { needs: lacking };
    throw invalid(err.problems, err.warnings);
  }
  const { converted } = loaded;
  const problems: ErrorDetail[] = [];
  const dataOf = (kind: 'secrets' | 'configs', r: StackResource): Buffer | undefined => {
    const c = r.config;
    if (c['external'] === true) return undefined;
    if (typeof c['file'] === 'string') {
      const text = fs.readText(c['file']);
      if (text !== undefined) return Buffer.from(text, 'utf8');
      if (missing.has(c['file'])) problems.push({ path: `${kind}.${r.key}.file`, message: `${kind}.${r.key}.file: ${c['file']} does not exist` });
      return undefined;
    }
    if (typeof c['environment'] === 'string') {
      const v = env[c['environment']];
      if (v !== undefined) return Buffer.from(v, 'utf8');
      if (unset.has(c['environment'])) problems.push({ path: `${kind}.${r.key}.environment`, message: `${kind}.${r.key}.environment: variable ${c['environment']} is not set` });
      return undefined;
    }
    if (typeof c['content'] === 'string') return Buffer.from(c['content'], 'utf8');
    problems.push({ path: `${kind}.${r.key}`, message: `${kind}.${r.key}: needs one of file, environment, content or external` });
    return undefined;
  };
  const secrets = converted.secrets.map((r) => ({ resource: r, data: dataOf('secrets', r) }));
  const configs = converted.configs.map((r) => ({ resource: r, data: dataOf('configs', r) }));
  const lacking = needs();
  if (lacking) {
    for (const s of secrets) s.data?.fill(0);
    return { needs: lacking };
  }
  if (problems.length > 0) throw new ApiError('invalid_argument', `stack ${spec.name}: ${problems.length} problem(s) in the compose files`, { details: problems });

  // Secret plaintext is never kept: neither the files it came from nor the variables.
  const secretFiles = new Set(converted.secrets.map((r) => r.config['file']).filter((f): f is string => typeof f === 'string').map(keyOf));
  const secretVars = new Set(converted.secrets.map((r) => r.config['environment']).filter((v): v is string => typeof v === 'string'));
  const { workingDir: _dir, ...portable } = spec;
  const stored: StackSpec = {
    ...portable,
    files: spec.files.filter((f) => !secretFiles.has(normalize(f.path))),
    environment: Object.fromEntries(Object.entries(environment).filter(([k]) => !secretVars.has(k))),
  };
  return { loaded: { converted, secrets, configs, builds: loaded.builds, warnings: loaded.warnings, stored } };
}

/**
 * The refusal of a broken stack: one detail per problem; the warnings the load found first come
 * before them as details with the path `warning` (the client prints them as warnings).
 */
function invalid(problems: readonly ComposeProblem[], warnings: readonly string[]): ApiError {
  const first = problems[0] ? formatProblem(problems[0]) : 'invalid compose files';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  const details = [...warnings.map((w) => ({ path: STACK_WARNING_PATH, message: w })), ...problems.map((p) => ({ path: p.path, message: formatProblem(p) }))];
  return new ApiError('invalid_argument', `${first}${more}`, { details });
}

/** File keys are relative to the project directory, normalized, each sent once. */
function checkKeys(spec: StackSpec): void {
  const details: ErrorDetail[] = [];
  const keys = new Set<string>();
  const dir = spec.workingDir ?? '/';
  const check = (key: string, where: string): void => {
    // A key must name one file in one way: `../x` above `/` would be `x` again, and a secret
    // file sent under a second name would escape the filter that keeps secrets out of the spec.
    if (isAbsolute(key) || normalize(key) !== key || key === '.' || key.endsWith('/') || relative(dir, resolve(dir, key)) !== key) {
      details.push({ path: where, message: `${where}: expected a normalized path relative to the project directory (compose.yaml, ../shared.env), got ${JSON.stringify(key)}` });
    }
    if (keys.has(key)) details.push({ path: where, message: `${where}: ${key} is sent twice` });
    keys.add(key);
  };
  spec.files.forEach((f, i) => check(f.path, `files[${i}].path`));
  spec.missingFiles.forEach((k, i) => check(k, `missingFiles[${i}]`));
  spec.composeFiles.forEach((c, i) => {
    if (!keys.has(c)) details.push({ path: `composeFiles[${i}]`, message: `composeFiles[${i}]: ${c} is among neither the files sent nor the missing ones` });
  });
  if (details.length > 0) throw new ApiError('invalid_argument', `invalid stack request: ${details[0]?.message ?? ''}`, { details });
}
