import { posix } from 'node:path';
import type { Task } from '../../api/task.ts';

/**
 * Pure: where each secret and config of a task goes — its path under the task's tmpfs (by
 * kind and name, so the exec driver's `FLOTILLA_SECRETS_DIR/NAME` works) and its target inside
 * the task (Swarm's: secrets at `/run/secrets/<target or name>`, configs at `target`, default
 * `/<name>`), with its owner and mode.
 */

export const SECRETS_MOUNT_DIR = '/run/secrets';

export interface PlannedFile {
  readonly kind: 'secret' | 'config';
  readonly id: string;
  readonly name: string;
  /** Relative to the task's tmpfs root: `secrets/<file>` or `configs/<file>`. */
  readonly relPath: string;
  /** Absolute path inside the container. */
  readonly target: string;
  readonly uid: number;
  readonly gid: number;
  readonly mode: number;
}

/** A task's files, or the first problem with its references (the task is then rejected). */
export function planFiles(task: Task): { ok: true; files: PlannedFile[] } | { ok: false; error: string } {
  const c = task.spec.container;
  const files: PlannedFile[] = [];
  const targets = new Set<string>();
  for (const kind of ['secret', 'config'] as const) {
    for (const r of (kind === 'secret' ? c.secrets : c.configs) ?? []) {
      const where = `${kind} ${r.name}`;
      const uid = numericId(r.uid);
      const gid = numericId(r.gid);
      if (uid === undefined || gid === undefined) return { ok: false, error: `${where}: uid and gid must be numeric, got ${r.uid}:${r.gid}` };
      const rawTarget = r.target ?? r.name;
      const target = kind === 'secret'
        ? (posix.isAbsolute(rawTarget) ? posix.normalize(rawTarget) : posix.join(SECRETS_MOUNT_DIR, rawTarget))
        : posix.normalize(posix.isAbsolute(rawTarget) ? rawTarget : `/${rawTarget}`);
      if (rawTarget.split('/').includes('..') || target === '/' || target.endsWith('/')) {
        return { ok: false, error: `${where}: target "${rawTarget}" is not a file path` };
      }
      if (targets.has(target)) return { ok: false, error: `${where}: target ${target} is used twice` };
      targets.add(target);
      // On the tmpfs, a secret is kept under the name the task reads it by; a config by its name.
      const fileName = kind === 'secret' && !posix.isAbsolute(rawTarget) ? posix.normalize(rawTarget) : r.name;
      files.push({ kind, id: r.id, name: r.name, relPath: posix.join(`${kind}s`, fileName), target, uid, gid, mode: r.mode });
    }
  }
  const rel = new Set<string>();
  for (const f of files) {
    if (rel.has(f.relPath)) return { ok: false, error: `${f.kind} ${f.name}: two files would be stored as ${f.relPath}` };
    rel.add(f.relPath);
  }
  return { ok: true, files };
}

function numericId(text: string): number | undefined {
  return /^\d{1,10}$/.test(text) ? Number(text) : undefined;
}
