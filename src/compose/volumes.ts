import { isAbsolute, resolve } from 'node:path';
import type { VolumeMount } from './model.ts';

/**
 * The short volume syntax, `[SOURCE:]TARGET[:MODE]`: a SOURCE starting with `.`, `/` or `~`
 * is a bind mount (resolved against `baseDir`), anything else names a volume; MODE is a
 * comma list (`ro`, `rw`, `z`, `Z`, `nocopy`, propagation flags). A lone TARGET is an
 * anonymous volume. Returns the long syntax, or a message saying what is wrong.
 */
export function parseVolumeShort(text: string, baseDir: string, home: string | undefined): VolumeMount | string {
  const parts = text.split(':');
  if (parts.length > 3 || parts.some((p) => p === '')) {
    return `invalid volume "${text}": expected [SOURCE:]TARGET[:MODE], e.g. "data:/var/lib/data" or "./site:/www:ro"`;
  }
  if (parts.length === 1) return { type: 'volume', target: text };
  const [source = '', target = '', mode] = parts;
  const flags = mode === undefined ? [] : mode.split(',');
  const known = ['ro', 'rw', 'z', 'Z', 'nocopy', 'shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'consistent', 'cached', 'delegated'];
  const unknown = flags.find((f) => !known.includes(f));
  if (unknown !== undefined) return `invalid volume "${text}": unknown mode "${unknown}" (expected ro, rw, z, Z, nocopy or a propagation mode)`;
  const bind = source.startsWith('.') || source.startsWith('/') || source.startsWith('~');
  const m: VolumeMount = bind ? { type: 'bind', source: resolveHostPath(source, baseDir, home), target } : { type: 'volume', source, target };
  if (flags.includes('ro')) m.read_only = true;
  if (bind) {
    m.bind = { create_host_path: true };
    const propagation = flags.find((f) => /^r?(shared|slave|private)$/.test(f));
    if (propagation) m.bind.propagation = propagation;
    const selinux = flags.find((f) => f === 'z' || f === 'Z');
    if (selinux) m.bind.selinux = selinux;
  } else {
    m.volume = flags.includes('nocopy') ? { nocopy: true } : {};
  }
  return m;
}

/** A host path as Compose resolves it: `~` is the home directory, relative paths are against `baseDir`. */
export function resolveHostPath(path: string, baseDir: string, home: string | undefined): string {
  if ((path === '~' || path.startsWith('~/')) && home !== undefined) return resolve(home, path.slice(2));
  return isAbsolute(path) ? path : resolve(baseDir, path);
}
