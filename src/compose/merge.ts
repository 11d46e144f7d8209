import type { ComposeModel, FileMount, PortMapping, ServiceConfig, VolumeMount } from './model.ts';
import { copyPositions, posOfKey } from './source.ts';

/**
 * Merging per the Compose Specification's rules, for override files (`-c a.yml -c b.yml`) and
 * `extends`: mappings are merged key by key (the later value wins for scalars); sequences are
 * appended; `command`, `entrypoint` and `healthcheck.test` are replaced; `ports`, `volumes`,
 * `secrets` and `configs` are merged by their unique key ({host_ip, target, published,
 * protocol}, target, target, target; a later entry replaces an earlier one with the same key). A `!reset` tag on an override field removes the field;
 * `!override` replaces it without merging.
 */
export function mergeModels(base: ComposeModel, over: ComposeModel): ComposeModel {
  const out: ComposeModel = {
    services: { ...base.services },
    networks: mergeValue(base.networks, over.networks) as ComposeModel['networks'],
    volumes: mergeValue(base.volumes, over.volumes) as ComposeModel['volumes'],
    secrets: mergeValue(base.secrets, over.secrets) as ComposeModel['secrets'],
    configs: mergeValue(base.configs, over.configs) as ComposeModel['configs'],
    extensions: mergeValue(base.extensions, over.extensions) as ComposeModel['extensions'],
  };
  const name = over.name ?? base.name;
  if (name !== undefined) out.name = name;
  for (const [n, s] of Object.entries(over.services)) {
    const b = Object.hasOwn(base.services, n) ? base.services[n] : undefined;
    out.services[n] = b ? mergeServices(b, s) : s;
  }
  copyPositions(base.services, out.services);
  copyPositions(over.services, out.services);
  return out;
}

const REPLACED = new Set(['command', 'entrypoint']);

/** `over` applied on top of `base`. */
export function mergeServices(base: ServiceConfig, over: ServiceConfig): ServiceConfig {
  const out: Record<string, unknown> = { ...base };
  copyPositions(base, out);
  copyPositions(over, out);
  for (const [k, v] of Object.entries(over) as [keyof ServiceConfig, unknown][]) {
    const tag = posOfKey(over, k)?.tag ?? (k === 'other' ? undefined : undefined);
    const b = (base as Record<string, unknown>)[k];
    if (tag === 'reset') {
      delete out[k];
      continue;
    }
    if (tag === 'override' || b === undefined || REPLACED.has(k)) {
      out[k] = v;
      continue;
    }
    switch (k) {
      case 'ports':
        out[k] = mergeByKey(b as PortMapping[], v as PortMapping[], (p) => `${p.host_ip ?? ''}|${p.target}|${p.published ?? ''}|${p.protocol}`);
        break;
      case 'volumes':
        out[k] = mergeByKey(b as VolumeMount[], v as VolumeMount[], (m) => m.target);
        break;
      case 'secrets':
      case 'configs':
        out[k] = mergeByKey(b as FileMount[], v as FileMount[], (m) => m.target ?? m.source);
        break;
      case 'healthcheck': {
        const h = mergeValue(b, v) as Record<string, unknown>;
        const test = (v as { test?: unknown }).test;
        if (test !== undefined) h['test'] = test;
        out[k] = h;
        break;
      }
      case 'other': {
        // Passthrough fields carry their own tags on the service's raw keys.
        const o = { ...(b as Record<string, unknown>) };
        for (const [ok, ov] of Object.entries(v as Record<string, unknown>)) {
          const t = posOfKey(over, ok)?.tag;
          if (t === 'reset') delete o[ok];
          else o[ok] = t === 'override' || o[ok] === undefined ? ov : mergeValue(o[ok], ov);
        }
        out[k] = o;
        break;
      }
      default:
        out[k] = mergeValue(b, v);
    }
  }
  return out as ServiceConfig;
}

/** Deep merge: mappings key by key, sequences appended (without repeating equal scalars), anything else replaced. */
export function mergeValue(base: unknown, over: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(over)) {
    const out = [...base];
    for (const v of over) if (typeof v === 'object' || !out.includes(v)) out.push(v);
    return out;
  }
  if (isMapping(base) && isMapping(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) {
      const tag = posOfKey(over, k)?.tag;
      if (tag === 'reset') delete out[k];
      else out[k] = tag === 'override' || out[k] === undefined ? v : mergeValue(out[k], v);
    }
    copyPositions(base, out);
    copyPositions(over, out);
    return out;
  }
  return over === undefined ? base : over;
}

function mergeByKey<T extends object>(base: T[], over: T[], key: (t: T) => string): T[] {
  const out = [...base];
  for (const item of over) {
    // An entry with the same unique key replaces the earlier one: `bar:/work` over `foo:/work` is `bar:/work`.
    const i = out.findIndex((b) => key(b) === key(item));
    if (i < 0) out.push(item);
    else out[i] = item;
  }
  return out;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
