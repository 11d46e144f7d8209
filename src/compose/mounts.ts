import type { ComposeProject, FileMount, ServiceConfig, VolumeMount } from './model.ts';
import { resourceName, STACK_NAMESPACE_LABEL } from './names.ts';
import { parseBytes } from './units.ts';

/**
 * A service's `volumes`, `tmpfs`, `secrets` and `configs` as `ContainerSpec` mounts and file
 * references, for stack `stack`. Pure; anything it cannot map becomes a warning through `warn`
 * (the field path inside the service and why), never a silent drop.
 */

/** Records a warning for a field of the service being converted. */
export type Warn = (field: string, what?: string) => void;

/**
 * An octal permission as Compose writes it: `"0440"`, `"440"` (YAML 1.2 reads `0440` as the
 * number 440, so digits 0-7 are taken as octal, which is what the author meant), `"0o440"`;
 * a text with 8 or 9 in it is decimal. Undefined when it is no number at all.
 */
export function octalMode(v: unknown): number | undefined {
  const text = String(v).trim().replace(/^0o/i, '');
  if (/^[0-7]+$/.test(text)) return parseInt(text, 8);
  if (/^\d+$/.test(text)) return Number(text);
  return undefined;
}

/** `volumes` and `tmpfs` of the service as Flotilla mounts. */
export function toMounts(s: ServiceConfig, project: ComposeProject, stack: string, warn: Warn): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  (s.volumes ?? []).forEach((v, i) => {
    const m = toMount(v, `volumes[${i}]`, project, stack, warn);
    if (m) out.push(m);
  });
  (s.tmpfs ?? []).forEach((t, i) => {
    const m = tmpfsShort(t, `tmpfs[${i}]`, warn);
    if (m) out.push(m);
  });
  return out;
}

function toMount(v: VolumeMount, at: string, project: ComposeProject, stack: string, warn: Warn): Record<string, unknown> | undefined {
  const m: Record<string, unknown> = { type: v.type, target: v.target, readOnly: v.read_only === true };
  if (v.consistency !== undefined) warn(`${at}.consistency`);
  switch (v.type) {
    case 'volume': {
      if (v.volume?.nocopy === true) warn(`${at}.volume.nocopy`);
      if (v.volume?.subpath !== undefined) warn(`${at}.volume.subpath`);
      if (v.source === undefined) return m; // anonymous: the engine makes one per container
      const config = project.volumes[v.source];
      m['source'] = resourceName(stack, v.source, config);
      if (config?.['external'] !== true) {
        m['volumeLabels'] = { ...(config?.['labels'] as Record<string, string> | undefined), [STACK_NAMESPACE_LABEL]: stack };
        if (typeof config?.['driver'] === 'string') m['volumeDriver'] = config['driver'];
      }
      return m;
    }
    case 'bind':
      // The loader resolved the source to an absolute path; it must exist on the node.
      m['source'] = v.source;
      if (v.bind?.propagation !== undefined) warn(`${at}.bind.propagation`);
      if (v.bind?.selinux !== undefined) warn(`${at}.bind.selinux`);
      return m;
    case 'tmpfs': {
      if (v.tmpfs?.size !== undefined) m['tmpfsSizeBytes'] = v.tmpfs.size;
      if (v.tmpfs?.mode !== undefined) {
        const mode = octalMode(v.tmpfs.mode);
        if (mode === undefined) warn(`${at}.tmpfs.mode`, `"${v.tmpfs.mode}" is not an octal mode; ignored`);
        else m['tmpfsMode'] = mode;
      }
      return m;
    }
    default:
      warn(at, `is a "${v.type}" mount, which is not supported; ignored`);
      return undefined;
  }
}

/** `tmpfs: ["/run", "/cache:size=64m,mode=1770"]` (Docker's `--tmpfs PATH[:OPTIONS]`). */
function tmpfsShort(text: string, at: string, warn: Warn): Record<string, unknown> | undefined {
  const colon = text.indexOf(':');
  const target = colon < 0 ? text : text.slice(0, colon);
  if (!target.startsWith('/')) {
    warn(at, `("${text}") needs an absolute path inside the container; ignored`);
    return undefined;
  }
  const m: Record<string, unknown> = { type: 'tmpfs', target, readOnly: false };
  const options = colon < 0 ? [] : text.slice(colon + 1).split(',').filter(Boolean);
  for (const o of options) {
    const [k = '', val] = o.split('=', 2);
    const size = k === 'size' ? parseBytes(val) : undefined;
    const mode = k === 'mode' ? octalMode(val) : undefined;
    if (size !== undefined) m['tmpfsSizeBytes'] = size;
    else if (mode !== undefined) m['tmpfsMode'] = mode;
    else if (k === 'ro' || k === 'rw') m['readOnly'] = k === 'ro';
    else warn(at, `option "${o}" is not supported (size, mode, ro, rw are); ignored`);
  }
  return m;
}

/**
 * The service's `secrets` or `configs` as file references. `id` is a placeholder — the object's
 * full name — that the stack deployer replaces with the real object id once the object exists;
 * `name` is the full name too. Default targets are Compose's: a secret at
 * `/run/secrets/<key>`, a config at `/<key>` (the compose key, not the stack-scoped name).
 */
export function toFileReferences(kind: 'secrets' | 'configs', list: readonly FileMount[] | undefined, project: ComposeProject, stack: string, warn: Warn): Record<string, unknown>[] {
  return (list ?? []).map((f, i) => {
    const name = resourceName(stack, f.source, project[kind][f.source]);
    const ref: Record<string, unknown> = { id: name, name, target: f.target ?? (kind === 'secrets' ? f.source : `/${f.source}`) };
    if (f.uid !== undefined) ref['uid'] = String(f.uid);
    if (f.gid !== undefined) ref['gid'] = String(f.gid);
    if (f.mode !== undefined) {
      const mode = octalMode(f.mode);
      if (mode === undefined) warn(`${kind}[${i}].mode`, `"${f.mode}" is not an octal mode; using 0444`);
      else ref['mode'] = mode;
    }
    return ref;
  });
}
