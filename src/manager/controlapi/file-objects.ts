import { ApiError } from '../../api/errors.ts';
import type { FileReference, Service, ServiceSpec } from '../../api/service.ts';

/**
 * What secret and config routes share: decoding and checking the uploaded data, finding the
 * services that use an object, and checking a service's references. Pure.
 */

/** The most a secret or config may hold (as Swarm allows). */
export const MAX_FILE_OBJECT_BYTES = 500 * 1024;

export type FileKind = 'secret' | 'config';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The data of a create request, decoded; `invalid_argument` (path `data`) when it is not base64 or too big. */
export function decodeData(kind: FileKind, data: string): Buffer {
  const text = data.replace(/\s+/g, '');
  if (!BASE64.test(text)) {
    throw new ApiError('invalid_argument', `${kind} data is not valid base64`, { details: [{ path: 'data', message: 'expected base64' }] });
  }
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length > MAX_FILE_OBJECT_BYTES) {
    throw new ApiError('invalid_argument', `${kind} data is ${bytes.length} bytes: at most ${MAX_FILE_OBJECT_BYTES} (500 KiB) allowed`, {
      details: [{ path: 'data', message: 'too large' }],
    });
  }
  return bytes;
}

function refsOf(spec: ServiceSpec, kind: FileKind): readonly FileReference[] {
  const c = spec.taskTemplate.container;
  return (kind === 'secret' ? c.secrets : c.configs) ?? [];
}

/** Names of the services whose spec uses the object `id`. */
export function servicesUsing(services: readonly Service[], kind: FileKind, id: string): string[] {
  return services.filter((s) => refsOf(s.spec, kind).some((r) => r.id === id)).map((s) => s.spec.name).sort();
}

/** Looks objects up by id (a transaction's or the store's table). */
export interface FileObjectLookup {
  get(id: string): { readonly id: string; readonly spec: { readonly name: string } } | undefined;
}

/**
 * Checks that every secret and config a service spec references exists, by id, and has the
 * name the reference gives. `invalid_argument` naming the field path otherwise, so a service
 * never points at something that is not there.
 */
export function checkFileReferences(spec: ServiceSpec, secrets: FileObjectLookup, configs: FileObjectLookup): void {
  const details: Array<{ path: string; message: string }> = [];
  for (const [kind, table] of [['secret', secrets], ['config', configs]] as const) {
    for (const [i, r] of refsOf(spec, kind).entries()) {
      const path = `taskTemplate.container.${kind}s[${i}]`;
      const found = table.get(r.id);
      if (!found) details.push({ path: `${path}.id`, message: `no ${kind} with id ${r.id} (${r.name})` });
      else if (found.spec.name !== r.name) details.push({ path: `${path}.name`, message: `${kind} ${r.id} is named ${found.spec.name}, not ${r.name}` });
    }
    const targets = new Set<string>();
    for (const [i, r] of refsOf(spec, kind).entries()) {
      const t = r.target ?? r.name;
      if (targets.has(t)) details.push({ path: `taskTemplate.container.${kind}s[${i}].target`, message: `target ${t} is used twice` });
      targets.add(t);
    }
  }
  const first = details[0];
  if (first) throw new ApiError('invalid_argument', `service ${spec.name}: ${first.path}: ${first.message}`, { details });
}
