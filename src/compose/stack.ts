import { toServiceSpecs, type ConvertedStack } from './convert.ts';
import { withWarnings } from './errors.ts';
import { loadProject, type LoadOptions } from './load.ts';
import type { ComposeProject } from './model.ts';

/** A project loaded and converted: what `stack config` shows and `stack deploy` applies. */
export interface LoadedStackProject {
  readonly project: ComposeProject;
  readonly converted: ConvertedStack;
  /** The loader's warnings, then the converter's, one line each (no `warning:` prefix). */
  readonly warnings: readonly string[];
}

/**
 * The one path from compose files to Flotilla objects, shared by `stack config` (on the
 * client) and `stack deploy` (on the manager), so both print the same warnings and refuse the
 * same files with the same words: `loadProject`, then `toServiceSpecs` for stack `stack`
 * (default: the project's name). Throws a ComposeError that carries the warnings found before
 * the failure.
 */
export function loadAndConvert(options: LoadOptions, stack?: string): LoadedStackProject {
  const { project, warnings } = loadProject(options);
  try {
    const converted = toServiceSpecs(project, stack ?? project.name);
    return { project, converted, warnings: [...warnings, ...converted.warnings] };
  } catch (err) {
    throw withWarnings(err, warnings);
  }
}
