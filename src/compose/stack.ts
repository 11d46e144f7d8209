import type { StackBuild } from '../api/build.ts';
import { projectBuilds } from './build.ts';
import { toServiceSpecs, type ConvertedStack } from './convert.ts';
import { ComposeError, withWarnings, type ComposeProblem } from './errors.ts';
import { loadProject, type LoadOptions } from './load.ts';
import type { ComposeProject } from './model.ts';
import { posOf, posOfKey } from './source.ts';

/** A project loaded and converted: what `stack config` shows and `stack deploy` applies. */
export interface LoadedStackProject {
  readonly project: ComposeProject;
  readonly converted: ConvertedStack;
  /** The builds of services with `build:` (docs/builds.md), contexts relative to the project directory's files. */
  readonly builds: readonly StackBuild[];
  /** The loader's warnings, then the builds', then the converter's, one line each (no `warning:` prefix). */
  readonly warnings: readonly string[];
}

/**
 * The one path from compose files to Flotilla objects, shared by `stack config` (on the
 * client) and `stack deploy` (on the manager), so both print the same warnings and refuse the
 * same files with the same words: `loadProject`, then the `build:` sections (`projectBuilds`),
 * then `toServiceSpecs` for stack `stack` (default: the project's name) with the images built
 * for services that build (`images`, by service key; a placeholder until built), then the
 * variables secrets and configs are read from. Throws a ComposeError that carries the warnings
 * found before the failure.
 */
export function loadAndConvert(options: LoadOptions, stack?: string, images: Readonly<Record<string, string>> = {}): LoadedStackProject {
  const { project, warnings } = loadProject(options);
  try {
    const built = projectBuilds(project, project.workingDir);
    if (built.problems.length > 0) throw new ComposeError(built.problems, { warnings: built.warnings });
    const converted = toServiceSpecs(project, stack ?? project.name, { images });
    checkVariables(project, options.env ?? process.env, [...built.warnings, ...converted.warnings]);
    return { project, converted, builds: built.builds, warnings: [...warnings, ...built.warnings, ...converted.warnings] };
  } catch (err) {
    throw withWarnings(err, warnings);
  }
}

/**
 * A secret or config read from a variable (`environment: NAME`) needs the variable set in the
 * environment the command runs in (not `.env`: what the deploy sends is the environment).
 */
function checkVariables(project: ComposeProject, env: Readonly<Record<string, string | undefined>>, warnings: readonly string[]): void {
  const problems: ComposeProblem[] = [];
  for (const kind of ['secrets', 'configs'] as const) {
    for (const [key, def] of Object.entries(project[kind])) {
      if (def.external === true || typeof def.environment !== 'string' || env[def.environment] !== undefined) continue;
      problems.push({ code: 'variable', pos: posOfKey(def, 'environment')?.value ?? posOf(def), path: `${kind}.${key}.environment`, message: `variable ${def.environment} is not set` });
    }
  }
  if (problems.length > 0) throw new ComposeError(problems, { warnings });
}
