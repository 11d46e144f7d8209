import { isAbsolute, normalize, resolve } from 'node:path';
import type { StackBuild } from '../api/build.ts';
import { describeValue, type ComposeProblem } from './errors.ts';
import type { ComposeProject, ServiceConfig } from './model.ts';
import { posOf, posOfValue } from './source.ts';

/** `build` keys Flotilla honours; the others get a warning (they are ignored). */
const HONOURED = new Set(['context', 'dockerfile', 'args', 'target', 'labels']);

/** The builds of a project and what is wrong with them. */
export interface ProjectBuilds {
  readonly builds: StackBuild[];
  readonly problems: ComposeProblem[];
  readonly warnings: string[];
}

/**
 * The `build:` sections of a project's services (docs/builds.md): the short form (the context
 * path) or the long one (context, dockerfile, args, target, labels; args and labels as a
 * mapping or a `KEY=VALUE` list). Contexts resolve against the project directory `dir`; a
 * remote context (a URL) is a problem, as is a Dockerfile outside the context. Keys Flotilla
 * does not honour (`cache_from`, `ssh`, …) are warned about, once per service and key.
 */
export function projectBuilds(project: ComposeProject, dir: string): ProjectBuilds {
  const builds: StackBuild[] = [];
  const problems: ComposeProblem[] = [];
  const warnings: string[] = [];
  for (const service of Object.keys(project.services).sort()) {
    const s = project.services[service];
    const raw = s?.other?.['build'];
    if (!s || raw === undefined || raw === null) continue;
    const b = parseBuild(service, s, raw, dir, problems, warnings);
    if (b) builds.push(b);
  }
  return { builds, problems, warnings };
}

function parseBuild(service: string, s: ServiceConfig, raw: unknown, dir: string, problems: ComposeProblem[], warnings: string[]): StackBuild | undefined {
  const path = `services.${service}.build`;
  const problem = (at: string, message: string, pos = posOfValue(s, 'build')): undefined => {
    problems.push({ code: 'invalid_value', pos, path: at, message });
    return undefined;
  };
  const spec: Record<string, unknown> = typeof raw === 'string' ? { context: raw } : (raw as Record<string, unknown>);
  if (typeof spec !== 'object' || Array.isArray(spec)) return problem(path, `expected a context path or a mapping, got ${describeValue(raw)}`);
  for (const k of Object.keys(spec)) if (!HONOURED.has(k)) warnings.push(`service ${service}: field \`build.${k}\` is not supported; ignored`);
  const at = (k: string): string => `${path}.${k}`;
  const context = spec['context'] ?? '.';
  if (typeof context !== 'string' || context === '') return problem(at('context'), `expected a directory, got ${describeValue(context)}`, posOfValue(spec, 'context'));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(context) || context.startsWith('git@')) {
    return problem(at('context'), `${context} is a remote context, which is not supported: give a directory`, posOfValue(spec, 'context'));
  }
  const dockerfile = spec['dockerfile'] ?? 'Dockerfile';
  if (typeof dockerfile !== 'string' || dockerfile === '') return problem(at('dockerfile'), `expected a path, got ${describeValue(dockerfile)}`, posOfValue(spec, 'dockerfile'));
  const inContext = normalize(dockerfile);
  if (isAbsolute(dockerfile) || inContext.startsWith('..')) {
    return problem(at('dockerfile'), `${dockerfile} is outside the build context; give a path inside ${context}`, posOfValue(spec, 'dockerfile'));
  }
  const target = spec['target'];
  if (target !== undefined && (typeof target !== 'string' || target === '')) return problem(at('target'), `expected a stage name, got ${describeValue(target)}`, posOfValue(spec, 'target'));
  const args = keyValues(spec['args'], at('args'), posOfValue(spec, 'args'), problems);
  const labels = keyValues(spec['labels'], at('labels'), posOfValue(spec, 'labels'), problems);
  if (!args || !labels) return undefined;
  return {
    service,
    context: resolve(dir, context),
    options: { dockerfile: inContext, ...(typeof target === 'string' ? { target } : {}), args, labels },
  };
}

/** A mapping or a `KEY=VALUE` list as a record; a bare `KEY` (no value) is left out, as Compose does when it is unset. */
function keyValues(raw: unknown, path: string, pos: ComposeProblem['pos'], problems: ComposeProblem[]): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  if (raw === undefined || raw === null) return out;
  const bad = (message: string): undefined => {
    problems.push({ code: 'invalid_value', pos: pos ?? posOf(raw), path, message });
    return undefined;
  };
  if (Array.isArray(raw)) {
    for (const item of raw) {
      if (typeof item !== 'string') return bad(`expected KEY=VALUE strings, got ${describeValue(item)}`);
      const eq = item.indexOf('=');
      if (eq === 0) return bad(`${JSON.stringify(item)} has no name`);
      if (eq > 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  }
  if (typeof raw !== 'object') return bad(`expected a mapping or a list, got ${describeValue(raw)}`);
  for (const [k, v] of Object.entries(raw)) {
    if (v === null || v === undefined) continue;
    if (typeof v === 'object') return bad(`${k}: expected a string, number or boolean, got ${describeValue(v)}`);
    out[k] = String(v);
  }
  return out;
}
