import { dirname, isAbsolute } from 'node:path';
import { ApiError, type ErrorDetail } from '../../api/errors.ts';
import type { StackSpec } from '../../api/stack.ts';
import { toServiceSpecs, type ConvertedStack, type StackResource } from '../../compose/convert.ts';
import { formatProblem, isComposeError, type ComposeProblem } from '../../compose/errors.ts';
import { loadProject } from '../../compose/load.ts';
import { memFs } from '../../compose/mem-fs.ts';

/**
 * The server side of a stack deploy's loading: the compose loader re-run on the files the
 * client sent (an in-memory file system, the client's variables, never the manager's own
 * environment or disk), so client and server resolve the stack identically. Every problem
 * becomes one `invalid_argument` detail reading `FILE:LINE:COL: path: message`.
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
  /** Loader and converter warnings, one line each. */
  readonly warnings: readonly string[];
  /** The spec to keep with the stack: without secret files and the variables secrets come from. */
  readonly stored: StackSpec;
}

/** Loads and converts `spec`; throws `ApiError('invalid_argument')` with one detail per problem. */
export function loadStack(spec: StackSpec): LoadedStack {
  checkPaths(spec);
  const files: Record<string, string> = {};
  for (const f of spec.files) files[f.path] = f.content;
  let loaded;
  let converted: ConvertedStack;
  try {
    loaded = loadProject({
      files: spec.composeFiles,
      cwd: dirname(spec.composeFiles[0] ?? '/'),
      env: spec.environment,
      profiles: spec.profiles,
      projectName: spec.name,
      fs: memFs(files),
    });
    converted = toServiceSpecs(loaded.project, spec.name);
  } catch (err) {
    if (!isComposeError(err)) throw err;
    throw invalid(err.problems);
  }
  const problems: ErrorDetail[] = [];
  const dataOf = (kind: 'secrets' | 'configs', r: StackResource): Buffer | undefined => {
    const c = r.config;
    if (c['external'] === true) return undefined;
    if (typeof c['file'] === 'string') {
      const text = files[c['file']];
      if (text !== undefined) return Buffer.from(text, 'utf8');
      problems.push({ path: `${kind}.${r.key}.file`, message: `${kind}.${r.key}.file: ${c['file']} was not sent with the stack` });
      return undefined;
    }
    if (typeof c['environment'] === 'string') {
      const v = (spec.environment as Record<string, string | undefined>)[c['environment']];
      if (v !== undefined) return Buffer.from(v, 'utf8');
      problems.push({ path: `${kind}.${r.key}.environment`, message: `${kind}.${r.key}.environment: variable ${c['environment']} is not set` });
      return undefined;
    }
    if (typeof c['content'] === 'string') return Buffer.from(c['content'], 'utf8');
    problems.push({ path: `${kind}.${r.key}`, message: `${kind}.${r.key}: needs one of file, environment, content or external` });
    return undefined;
  };
  const secrets = converted.secrets.map((r) => ({ resource: r, data: dataOf('secrets', r) }));
  const configs = converted.configs.map((r) => ({ resource: r, data: dataOf('configs', r) }));
  if (problems.length > 0) throw new ApiError('invalid_argument', `stack ${spec.name}: ${problems.length} problem(s) in the compose files`, { details: problems });

  // Secret plaintext is never kept: neither the files it came from nor the variables.
  const secretFiles = new Set(converted.secrets.map((r) => r.config['file']).filter((f): f is string => typeof f === 'string'));
  const secretVars = new Set(converted.secrets.map((r) => r.config['environment']).filter((v): v is string => typeof v === 'string'));
  const stored: StackSpec = {
    ...spec,
    files: spec.files.filter((f) => !secretFiles.has(f.path)),
    environment: Object.fromEntries(Object.entries(spec.environment as Record<string, string>).filter(([k]) => !secretVars.has(k))),
  };
  return { converted, secrets, configs, warnings: [...loaded.warnings, ...converted.warnings], stored };
}

function invalid(problems: readonly ComposeProblem[]): ApiError {
  const first = problems[0] ? formatProblem(problems[0]) : 'invalid compose files';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new ApiError('invalid_argument', `${first}${more}`, { details: problems.map((p) => ({ path: p.path, message: formatProblem(p) })) });
}

function checkPaths(spec: StackSpec): void {
  const details: ErrorDetail[] = [];
  const paths = new Set<string>();
  spec.files.forEach((f, i) => {
    if (!isAbsolute(f.path)) details.push({ path: `files[${i}].path`, message: `files[${i}].path: expected an absolute path, got ${JSON.stringify(f.path)}` });
    if (paths.has(f.path)) details.push({ path: `files[${i}].path`, message: `files[${i}].path: ${f.path} is sent twice` });
    paths.add(f.path);
  });
  spec.composeFiles.forEach((c, i) => {
    if (!paths.has(c)) details.push({ path: `composeFiles[${i}]`, message: `composeFiles[${i}]: ${c} is not among the files sent` });
  });
  if (details.length > 0) throw new ApiError('invalid_argument', `invalid stack request: ${details[0]?.message ?? ''}`, { details });
}
