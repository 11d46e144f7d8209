import { stringify } from 'yaml';
import type { ComposeProject } from './model.ts';
import { formatDurationMs } from './units.ts';

/** Fields that are maps with free keys; printed sorted, as `docker compose config` does. */
const MAP_KEYS = new Set(['environment', 'labels', 'sysctls', 'ulimits', 'depends_on', 'networks', 'driver_opts', 'annotations']);

const DURATION_KEYS = new Set(['interval', 'timeout', 'start_period', 'start_interval', 'stop_grace_period', 'delay', 'window', 'monitor']);

/**
 * The project as a Compose document, like `docker compose config`: services and other maps
 * sorted by name, every field in long syntax, variables interpolated, paths absolute,
 * durations back in Go notation (`1m30s`), CPUs as a count, sizes in bytes, `$` escaped as
 * `$$`. Loading the output again gives the same project.
 */
export function toComposeDocument(project: ComposeProject): Record<string, unknown> {
  const doc: Record<string, unknown> = { name: project.name };
  doc['services'] = sortKeys(Object.fromEntries(Object.entries(project.services).map(([n, s]) => {
    const { other, ...typed } = s;
    return [n, sortKeys(toCompose({ ...typed, ...(other ?? {}) }) as Record<string, unknown>)];
  })));
  for (const kind of ['networks', 'volumes', 'secrets', 'configs'] as const) {
    if (Object.keys(project[kind]).length > 0) doc[kind] = sortKeys(toCompose(project[kind]) as Record<string, unknown>);
  }
  for (const [k, v] of Object.entries(project.extensions)) doc[k] = v;
  return doc;
}

/** `toComposeDocument` as YAML text. */
export function printProject(project: ComposeProject): string {
  return stringify(toComposeDocument(project), { lineWidth: 0 });
}

function toCompose(v: unknown, key?: string): unknown {
  if (typeof v === 'number' && key !== undefined) {
    if (DURATION_KEYS.has(key)) return formatDurationMs(v);
    if (key === 'cpus') return v / 1e9;
  }
  if (Array.isArray(v)) return v.map((x) => toCompose(x));
  if (typeof v === 'object' && v !== null) {
    const o = Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, toCompose(x, k)]));
    return key !== undefined && MAP_KEYS.has(key) ? sortKeys(o) : o;
  }
  // `$` is written `$$` so that loading the output again gives the same values.
  if (typeof v === 'string') return v.replaceAll('$', '$$$$');
  return v;
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
