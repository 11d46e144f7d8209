import { ComposeError, type ComposeProblem } from './errors.ts';
import { parseDotenv } from './dotenv.ts';
import type { Lookup } from './interpolate.ts';
import type { ServiceConfig } from './model.ts';
import { posOf } from './source.ts';

/** Reads a file's text; undefined when it does not exist. */
export type ReadText = (path: string) => string | undefined;

/**
 * Folds each service's `env_file` entries into `environment` (files in order, later files
 * win; `environment` wins over every file, as the specification says) and drops `env_file`.
 * A missing file is an error unless its entry says `required: false`.
 */
export function resolveEnvFiles(services: Record<string, ServiceConfig>, readText: ReadText, lookup: Lookup): void {
  const problems: ComposeProblem[] = [];
  for (const [name, s] of Object.entries(services)) {
    if (!s.env_file) continue;
    const fromFiles: Record<string, string> = {};
    s.env_file.forEach((ref, i) => {
      const text = readText(ref.path);
      if (text === undefined) {
        if (ref.required) problems.push({ code: 'missing_file', pos: posOf(ref), path: `services.${name}.env_file[${i}]`, message: `env file ${ref.path} not found` });
        return;
      }
      try {
        for (const [k, v] of parseDotenv(text, ref.path, lookup)) fromFiles[k] = v;
      } catch (err) {
        if (err instanceof ComposeError) problems.push(...err.problems);
        else throw err;
      }
    });
    const env: Record<string, string | null> = { ...fromFiles };
    for (const [k, v] of Object.entries(s.environment ?? {})) if (v !== null || !(k in env)) env[k] = v;
    if (Object.keys(env).length > 0) s.environment = env;
    delete s.env_file;
  }
  if (problems.length > 0) throw new ComposeError(problems);
}
