import { ComposeError, type ComposeProblem } from './errors.ts';
import type { Lookup } from './interpolate.ts';
import type { ComposeModel, Dependency, EnvFileRef, FileMount, FileObjectConfig, PortMapping, ServiceConfig, VolumeMount } from './model.ts';
import { orderPort, parsePortShort } from './ports.ts';
import { TYPED_SERVICE_KEYS } from './schema.ts';
import { splitShellWords } from './shell-words.ts';
import { copyPositions, posOf, posOfKey, posOfValue, setKeyPos, setPos } from './source.ts';
import { parseVolumeShort, resolveHostPath } from './volumes.ts';

/** What normalization needs to know besides the file. */
export interface NormalizeContext {
  /** Relative paths (bind mounts, env_file, secret and config files) are resolved against it. */
  readonly baseDir: string;
  /** Environment for `environment` entries written without a value. */
  readonly lookup: Lookup;
  readonly home: string | undefined;
}

type Raw = Record<string, unknown>;

/**
 * Turns one validated file into the model's long syntax: ports, volumes, secrets, configs,
 * depends_on, networks, environment, labels, sysctls, ulimits, extra_hosts in their long
 * forms; command and entrypoint split into words; relative paths made absolute. Positions are
 * carried over to the new objects so later stages can still point at the source.
 */
export function normalizeFile(raw: unknown, ctx: NormalizeContext): ComposeModel {
  const root = (raw ?? {}) as Raw;
  const problems: ComposeProblem[] = [];
  const model: ComposeModel = { services: {}, networks: {}, volumes: {}, secrets: {}, configs: {}, extensions: {} };
  if (typeof root['name'] === 'string') model.name = root['name'];
  for (const [k, v] of Object.entries(root)) if (k.startsWith('x-')) model.extensions[k] = v;
  const services = (root['services'] ?? {}) as Raw;
  for (const [name, svc] of Object.entries(services)) {
    model.services[name] = normalizeService(svc as Raw, `services.${name}`, ctx, problems);
  }
  copyPositions(services, model.services);
  for (const kind of ['networks', 'volumes'] as const) {
    const defs = (root[kind] ?? {}) as Raw;
    for (const [name, def] of Object.entries(defs)) {
      const out = (def ?? {}) as Raw;
      if (def === null) setPos(out, posOfValue(defs, name));
      model[kind][name] = out;
    }
    copyPositions(defs, model[kind]);
  }
  for (const kind of ['secrets', 'configs'] as const) {
    const defs = (root[kind] ?? {}) as Record<string, FileObjectConfig>;
    for (const [name, def] of Object.entries(defs)) {
      if (typeof def.file === 'string') def.file = resolveHostPath(def.file, ctx.baseDir, ctx.home);
      if (def.labels !== undefined) def.labels = toStringMap(def.labels, def, 'labels');
      const sources = ['file', 'environment', 'content', 'external'].filter((k) => def[k] !== undefined && def[k] !== false);
      if (sources.length !== 1 && !(kind === 'secrets' && sources.length === 0 && def['driver'] !== undefined)) {
        problems.push({
          code: 'invalid_value',
          pos: posOf(def) ?? posOfValue(defs, name),
          path: `${kind}.${name}`,
          message: `expected exactly one of ${kind === 'configs' ? 'file, environment, content or external' : 'file, environment or external'}, got ${sources.length === 0 ? 'none' : sources.join(', ')}`,
        });
      }
      model[kind][name] = def;
    }
    copyPositions(defs, model[kind]);
  }
  if (problems.length > 0) throw new ComposeError(problems);
  return model;
}

function normalizeService(raw: Raw, path: string, ctx: NormalizeContext, problems: ComposeProblem[]): ServiceConfig {
  const s: ServiceConfig = {};
  setPos(s, posOf(raw));
  copyPositions(raw, s);
  const bad = (key: string | number, container: unknown, p: string, message: string): void => {
    problems.push({ code: 'invalid_value', pos: posOfValue(container, key), path: p, message });
  };
  const other: Raw = {};
  for (const [k, v] of Object.entries(raw)) if (!TYPED_SERVICE_KEYS.includes(k)) other[k] = v;
  if (Object.keys(other).length > 0) s.other = other;
  const copy = <K extends keyof ServiceConfig>(k: K): void => {
    if (raw[k] !== undefined) s[k] = raw[k] as ServiceConfig[K];
  };
  for (const k of ['image', 'user', 'working_dir', 'stop_signal', 'stop_grace_period', 'init', 'cap_add', 'cap_drop', 'hostname', 'read_only', 'profiles'] as const) copy(k);

  for (const k of ['command', 'entrypoint'] as const) {
    const v = raw[k];
    if (v === undefined) continue;
    if (typeof v === 'string') {
      const words = splitShellWords(v);
      if (words === undefined) bad(k, raw, `${path}.${k}`, `unterminated quote in ${JSON.stringify(v)}`);
      else s[k] = words;
    } else s[k] = v as string[] | null;
  }

  if (raw['environment'] !== undefined) {
    const env: Record<string, string | null> = {};
    const v = raw['environment'];
    if (Array.isArray(v)) {
      for (const item of v as string[]) {
        const eq = item.indexOf('=');
        if (eq < 0) env[item] = ctx.lookup(item) ?? null;
        else env[item.slice(0, eq)] = item.slice(eq + 1);
      }
    } else {
      for (const [k, val] of Object.entries(v as Record<string, string | null>)) env[k] = val ?? ctx.lookup(k) ?? null;
    }
    s.environment = env;
  }
  if (raw['env_file'] !== undefined) {
    const v = raw['env_file'];
    const items = Array.isArray(v) ? v : [v];
    s.env_file = items.map((item: unknown, i) => {
      const ref: EnvFileRef = typeof item === 'string'
        ? { path: resolveHostPath(item, ctx.baseDir, ctx.home), required: true }
        : { ...(item as EnvFileRef), path: resolveHostPath((item as EnvFileRef).path, ctx.baseDir, ctx.home), required: (item as EnvFileRef).required ?? true };
      setPos(ref, Array.isArray(v) ? posOfValue(v, i) : posOfValue(raw, 'env_file'));
      return ref;
    });
  }
  for (const k of ['labels', 'sysctls'] as const) if (raw[k] !== undefined) s[k] = toStringMap(raw[k], raw, k);

  if (raw['ports'] !== undefined) {
    const ports: PortMapping[] = [];
    (raw['ports'] as unknown[]).forEach((p, i) => {
      if (typeof p === 'number') return ports.push(...(typeof parsePortShort(String(p)) === 'string' ? [] : (parsePortShort(String(p)) as PortMapping[])));
      if (typeof p === 'string') {
        const r = parsePortShort(p);
        if (typeof r === 'string') return bad(i, raw['ports'], `${path}.ports[${i}]`, r);
        return ports.push(...r);
      }
      const long = p as Raw;
      const m: PortMapping = { ...(long as unknown as PortMapping), mode: (long['mode'] as PortMapping['mode'] | undefined) ?? 'ingress', protocol: (long['protocol'] as string | undefined) ?? 'tcp' };
      if (long['published'] !== undefined) m.published = String(long['published']);
      return ports.push(orderPort(m));
    });
    s.ports = ports;
  }
  if (raw['expose'] !== undefined) s.expose = (raw['expose'] as string[]).map(String);

  if (raw['volumes'] !== undefined) {
    const list = raw['volumes'] as unknown[];
    const mounts: VolumeMount[] = [];
    list.forEach((v, i) => {
      let m: VolumeMount | string;
      if (typeof v === 'string') m = parseVolumeShort(v, ctx.baseDir, ctx.home);
      else {
        m = { ...(v as VolumeMount) };
        if (m.type === 'bind' && m.source !== undefined) m.source = resolveHostPath(m.source, ctx.baseDir, ctx.home);
      }
      if (typeof m === 'string') return bad(i, list, `${path}.volumes[${i}]`, m);
      setPos(m, posOfValue(list, i));
      mounts.push(m);
    });
    s.volumes = mounts;
  }
  for (const k of ['secrets', 'configs'] as const) {
    const list = raw[k] as unknown[] | undefined;
    if (list === undefined) continue;
    s[k] = list.map((v, i) => {
      const m: FileMount = typeof v === 'string' ? { source: v } : { ...(v as FileMount) };
      setPos(m, posOfValue(list, i));
      return m;
    });
  }
  if (raw['healthcheck'] !== undefined) {
    const h = { ...(raw['healthcheck'] as Raw) };
    if (typeof h['test'] === 'string') h['test'] = ['CMD-SHELL', h['test']];
    if (h['disable'] === true) h['test'] = ['NONE'];
    s.healthcheck = h as ServiceConfig['healthcheck'] & object;
  }
  if (raw['extra_hosts'] !== undefined) {
    const v = raw['extra_hosts'];
    const hosts: string[] = [];
    if (Array.isArray(v)) {
      (v as string[]).forEach((h, i) => {
        const m = /^([^=:\s]+)[=:](.+)$/.exec(h);
        if (!m) bad(i, v, `${path}.extra_hosts[${i}]`, `invalid extra host ${JSON.stringify(h)}: expected HOST=IP or HOST:IP`);
        else hosts.push(`${m[1]}=${m[2]}`);
      });
    } else {
      for (const [host, ips] of Object.entries(v as Record<string, string | string[]>)) for (const ip of Array.isArray(ips) ? ips : [ips]) hosts.push(`${host}=${ip}`);
    }
    s.extra_hosts = hosts;
  }
  if (raw['tmpfs'] !== undefined) s.tmpfs = typeof raw['tmpfs'] === 'string' ? [raw['tmpfs']] : (raw['tmpfs'] as string[]);
  if (raw['ulimits'] !== undefined) {
    s.ulimits = Object.fromEntries(Object.entries(raw['ulimits'] as Record<string, number | { soft: number; hard: number }>).map(([k, v]) => [k, typeof v === 'number' ? { soft: v, hard: v } : v]));
  }
  if (raw['depends_on'] !== undefined) {
    const v = raw['depends_on'];
    const deps: Record<string, Dependency> = {};
    if (Array.isArray(v)) {
      (v as string[]).forEach((name, i) => {
        deps[name] = { condition: 'service_started', required: true };
        setKeyPos(deps, name, posOfKey(v, i));
      });
    } else {
      for (const [name, d] of Object.entries(v as Record<string, Partial<Dependency>>)) {
        deps[name] = { ...d, condition: d.condition ?? 'service_started', required: d.required ?? true };
      }
      copyPositions(v, deps);
    }
    s.depends_on = deps;
  }
  if (raw['networks'] !== undefined) {
    const v = raw['networks'];
    const nets: Record<string, Record<string, unknown> | null> = {};
    if (Array.isArray(v)) {
      (v as string[]).forEach((n, i) => {
        nets[n] = null;
        setKeyPos(nets, n, posOfKey(v, i));
      });
    } else {
      Object.assign(nets, v);
      copyPositions(v, nets);
    }
    s.networks = nets;
  }
  if (raw['extends'] !== undefined) {
    const e = raw['extends'];
    s.extends = typeof e === 'string' ? { service: e } : { ...(e as { service: string; file?: string }) };
    setPos(s.extends, posOfValue(raw, 'extends'));
  }
  if (raw['deploy'] !== undefined) {
    const d = { ...(raw['deploy'] as Raw) };
    if (d['labels'] !== undefined) d['labels'] = toStringMap(d['labels'], raw['deploy'], 'labels');
    copyPositions(raw['deploy'], d);
    s.deploy = d as ServiceConfig['deploy'] & object;
  }
  return s;
}

/** `[K=V, K]` or `{K: V}` → `{K: V}` (a value-less entry is ""). */
function toStringMap(v: unknown, _container: unknown, _key: string): Record<string, string> {
  if (!Array.isArray(v)) return Object.fromEntries(Object.entries(v as Record<string, string | null>).map(([k, val]) => [k, val ?? '']));
  const out: Record<string, string> = {};
  for (const item of v as string[]) {
    const eq = item.indexOf('=');
    if (eq < 0) out[item] = '';
    else out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
