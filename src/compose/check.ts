import { ComposeError, type ComposeProblem } from './errors.ts';
import type { ComposeModel, ServiceConfig } from './model.ts';
import { posOf, posOfKey } from './source.ts';

/** What the reference checks need from outside: whether a file exists. */
export interface CheckDeps {
  readonly exists: (path: string) => boolean;
}

/**
 * Checks a resolved model's references: `depends_on` names an active service (a dependency
 * on a service disabled by its profile is an error unless `required: false`, in which case it
 * is dropped), dependencies form no cycle (the message names it), named volumes, networks,
 * secrets and configs that services use are declared at the top level, secret and config
 * files exist, and every service has a non-empty `image` (or `build`) and no `provider`.
 */
export function checkReferences(model: ComposeModel, disabled: Record<string, ServiceConfig>, deps: CheckDeps): void {
  const problems: ComposeProblem[] = [];
  const services = model.services;
  for (const [name, s] of Object.entries(services)) {
    const path = `services.${name}`;
    if (s.other?.['provider'] !== undefined) {
      problems.push({ code: 'invalid_value', pos: posOfKey(s, 'provider')?.key ?? posOf(s), path: `${path}.provider`, message: 'provider services (run by a Compose plugin, not as containers) are not supported: Flotilla runs containers only' });
    } else if (!s.image && s.other?.['build'] === undefined) {
      // `image: ""` is no image, as Docker Compose has it ("neither an image nor a build context").
      const empty = s.image === '';
      problems.push({ code: 'type', pos: empty ? (posOfKey(s, 'image')?.value ?? posOf(s)) : posOf(s), path: empty ? `${path}.image` : path, message: empty ? 'the image is empty (an unset variable?): give an image (or a build)' : 'missing required key "image" (or "build")' });
    }
    for (const [dep, d] of Object.entries(s.depends_on ?? {})) {
      if (Object.hasOwn(services, dep)) continue;
      const pos = posOfKey(s.depends_on, dep)?.key ?? posOfKey(s, 'depends_on')?.value;
      const off = Object.hasOwn(disabled, dep) ? disabled[dep] : undefined;
      if (off) {
        if (!d.required) {
          delete s.depends_on?.[dep];
          continue;
        }
        const profiles = off.profiles ?? [];
        problems.push({ code: 'reference', pos, path: `${path}.depends_on.${dep}`, message: `service "${dep}" is not active: enable profile ${profiles.map((p) => `"${p}"`).join(' or ')}` });
      } else {
        problems.push({ code: 'reference', pos, path: `${path}.depends_on.${dep}`, message: `depends on undefined service "${dep}"` });
      }
    }
    (s.volumes ?? []).forEach((m, i) => {
      if (m.type === 'volume' && m.source !== undefined && !Object.hasOwn(model.volumes, m.source)) {
        problems.push({ code: 'reference', pos: posOf(m), path: `${path}.volumes[${i}]`, message: `refers to undefined volume "${m.source}": declare it under the top-level "volumes"` });
      }
    });
    for (const kind of ['secrets', 'configs'] as const) {
      (s[kind] ?? []).forEach((m, i) => {
        if (!Object.hasOwn(model[kind], m.source)) {
          problems.push({ code: 'reference', pos: posOf(m), path: `${path}.${kind}[${i}]`, message: `refers to undefined ${kind.slice(0, -1)} "${m.source}": declare it under the top-level "${kind}"` });
        }
      });
    }
    for (const net of Object.keys(s.networks ?? {})) {
      if (net !== 'default' && !Object.hasOwn(model.networks, net)) {
        problems.push({ code: 'reference', pos: posOfKey(s.networks, net)?.key, path: `${path}.networks.${net}`, message: `refers to undefined network "${net}": declare it under the top-level "networks"` });
      }
    }
  }
  for (const kind of ['secrets', 'configs'] as const) {
    for (const [name, def] of Object.entries(model[kind])) {
      if (typeof def.file === 'string' && !deps.exists(def.file)) {
        problems.push({ code: 'missing_file', pos: posOfKey(def, 'file')?.value ?? posOf(def), path: `${kind}.${name}.file`, message: `${kind.slice(0, -1)} file ${def.file} does not exist` });
      }
    }
  }
  problems.push(...findCycles(services));
  if (problems.length > 0) throw new ComposeError(problems);
}

/**
 * One problem per dependency cycle, at the `depends_on` entry that closes it. A depth-first
 * search with its own stack, not recursion: a chain of 50,000 services must not overflow the
 * call stack.
 */
function findCycles(services: Record<string, ServiceConfig>): ComposeProblem[] {
  const problems: ComposeProblem[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  /** The path being explored: each service with its dependencies and the next one to look at. */
  const path: { name: string; deps: string[]; next: number }[] = [];
  const onPath = new Map<string, number>();
  const enter = (name: string): void => {
    state.set(name, 'visiting');
    onPath.set(name, path.length);
    path.push({ name, deps: Object.keys(services[name]?.depends_on ?? {}), next: 0 });
  };
  for (const root of Object.keys(services).sort()) {
    if (state.has(root)) continue;
    enter(root);
    while (path.length > 0) {
      const top = path[path.length - 1] as { name: string; deps: string[]; next: number };
      const dep = top.deps[top.next++];
      if (dep === undefined) {
        path.pop();
        onPath.delete(top.name);
        state.set(top.name, 'done');
        continue;
      }
      if (!Object.hasOwn(services, dep)) continue;
      const st = state.get(dep);
      if (st === 'visiting') {
        const cycle = [...path.slice(onPath.get(dep)).map((p) => p.name), dep];
        problems.push({
          code: 'cycle',
          pos: posOfKey(services[top.name]?.depends_on, dep)?.key,
          path: `services.${top.name}.depends_on.${dep}`,
          message: `dependency cycle: ${cycle.length > 12 ? [...cycle.slice(0, 5), `… ${cycle.length - 10} more …`, ...cycle.slice(-5)].join(' -> ') : cycle.join(' -> ')}`,
        });
      } else if (st === undefined) enter(dep);
    }
  }
  return problems;
}
