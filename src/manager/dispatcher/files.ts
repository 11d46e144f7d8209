import type { AssignedFile } from '../../api/agent-protocol.ts';
import type { Config, StoredSecret } from '../../api/secret.ts';
import type { Task } from '../../api/task.ts';

/**
 * Which secrets and configs go out with an assignments message: exactly those used by the tasks
 * in it that are meant to run, so a node only ever receives what a task assigned to it needs.
 * Secrets are opened here, in memory, just before sending; nothing opened is kept.
 */

/** Opens a secret's sealed data (the manager's sealing key, wired by the composition root). */
export interface SecretOpener {
  open(sealed: string, aad: string): Buffer;
}

export interface FileSources {
  secret(id: string): StoredSecret | undefined;
  config(id: string): Config | undefined;
  /** Absent: secrets cannot be opened (no key), so none is sent. */
  readonly opener: SecretOpener | undefined;
}

/** Why a file could not be attached (logged by id, never with data). */
export interface FileProblem {
  readonly taskId: string;
  readonly id: string;
  readonly kind: 'secret' | 'config';
  readonly reason: string;
}

/** The files the running-wanted `tasks` use, each once, and problems with ones that could not be attached. */
export function filesFor(tasks: readonly Task[], sources: FileSources): { files: AssignedFile[]; problems: FileProblem[] } {
  const files = new Map<string, AssignedFile>();
  const problems: FileProblem[] = [];
  for (const t of tasks) {
    if (t.desiredState !== 'running') continue;
    const c = t.spec.container;
    for (const r of c.secrets ?? []) {
      if (files.has(r.id)) continue;
      const s = sources.secret(r.id);
      if (!s) {
        problems.push({ taskId: t.id, id: r.id, kind: 'secret', reason: `secret ${r.name} no longer exists` });
        continue;
      }
      if (!sources.opener) {
        problems.push({ taskId: t.id, id: r.id, kind: 'secret', reason: 'this manager has no sealing key' });
        continue;
      }
      try {
        const plain = sources.opener.open(s.sealed, s.id);
        files.set(r.id, { id: r.id, kind: 'secret', data: plain.toString('base64') });
        plain.fill(0);
      } catch (err) {
        problems.push({ taskId: t.id, id: r.id, kind: 'secret', reason: err instanceof Error ? err.message : String(err) });
      }
    }
    for (const r of c.configs ?? []) {
      if (files.has(r.id)) continue;
      const cfg = sources.config(r.id);
      if (!cfg) {
        problems.push({ taskId: t.id, id: r.id, kind: 'config', reason: `config ${r.name} no longer exists` });
        continue;
      }
      files.set(r.id, { id: r.id, kind: 'config', data: cfg.data });
    }
  }
  return { files: [...files.values()], problems };
}
