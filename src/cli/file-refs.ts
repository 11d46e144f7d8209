import type { FlotillaClient } from '../client/client.ts';
import { UsageError } from './parse.ts';

/**
 * `--secret` and `--config` of `service create`, with docker's syntax: `NAME`, or
 * `source=NAME[,target=T][,uid=U][,gid=G][,mode=0400]`. Parsing is pure; the names are turned
 * into ids (what a service spec holds) by `resolveFileRefs` through the API.
 */

/** A reference as the user wrote it: by name, not yet by id. */
export interface FileRefInput {
  name: string;
  target?: string;
  uid?: string;
  gid?: string;
  mode?: number;
}

/** Parses one `--secret`/`--config` value; a `UsageError` naming the flag when it is malformed. */
export function parseFileRef(text: string, flag: '--secret' | '--config'): FileRefInput {
  if (!text.includes('=')) {
    if (text === '') throw new UsageError(`${flag}: expected NAME or source=NAME[,target=…][,uid=…][,gid=…][,mode=…]`);
    return { name: text };
  }
  const ref: Partial<FileRefInput> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    if (eq <= 0 || value === '') throw new UsageError(`${flag} ${text}: "${part}" is not KEY=VALUE`);
    switch (key) {
      case 'source':
      case 'src':
        ref.name = value;
        break;
      case 'target':
        ref.target = value;
        break;
      case 'uid':
        ref.uid = value;
        break;
      case 'gid':
        ref.gid = value;
        break;
      case 'mode':
        if (!/^[0-7]{1,4}$/.test(value) || Number.parseInt(value, 8) > 0o777) {
          throw new UsageError(`${flag} ${text}: mode "${value}" is not an octal file mode such as 0400`);
        }
        ref.mode = Number.parseInt(value, 8);
        break;
      default:
        throw new UsageError(`${flag} ${text}: unknown key "${key}" (expected source, target, uid, gid, mode)`);
    }
  }
  if (ref.name === undefined) throw new UsageError(`${flag} ${text}: source=NAME is required`);
  return ref as FileRefInput;
}

/** Looks each referenced secret or config up by name (or id) and returns spec references with ids. */
export async function resolveFileRefs(
  client: FlotillaClient,
  kind: 'secret' | 'config',
  refs: readonly FileRefInput[],
): Promise<Array<FileRefInput & { id: string }>> {
  const out: Array<FileRefInput & { id: string }> = [];
  for (const r of refs) {
    const found = kind === 'secret' ? await client.getSecret(r.name) : await client.getConfig(r.name);
    out.push({ ...r, id: found.id, name: found.spec.name });
  }
  return out;
}
