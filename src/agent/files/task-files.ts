import { join } from 'node:path';
import type { AssignedFile } from '../../api/agent-protocol.ts';
import type { Task } from '../../api/task.ts';
import type { Logger } from '../../lib/logger.ts';
import type { FileMount } from '../drivers/driver.ts';
import { planFiles } from './layout.ts';
import type { TaskFileSystem } from './task-fs.ts';

/** What a driver gets for a task that uses secrets or configs. */
export interface PreparedFiles {
  readonly fileMounts: readonly FileMount[];
  readonly secretsDir: string;
  readonly configsDir: string;
}

/** Where task file systems are mounted: never the agent's data dir. */
export function defaultRuntimeDir(nodeId: string): string {
  return join('/run/flotilla', nodeId);
}

/**
 * The agent's secrets and configs. Contents arrive with assignments and are held in memory
 * only (`receive`), for as long as a task assigned here uses them (`retain`). Per task,
 * `prepare` mounts a tmpfs at `<runtimeDir>/tasks/<taskId>` holding the task's files with their
 * owner and mode; `release` unmounts it when the task is removed. Contents are never logged.
 */
export class TaskFiles {
  readonly #fs: TaskFileSystem;
  readonly #logger: Logger;
  readonly #runtimeDir: () => string;
  readonly #cache = new Map<string, Buffer>();

  /** `runtimeDir` is read when first needed (the node id may arrive with the first welcome). */
  constructor(deps: { fs: TaskFileSystem; logger: Logger }, runtimeDir: () => string) {
    this.#fs = deps.fs;
    this.#logger = deps.logger;
    this.#runtimeDir = runtimeDir;
  }

  /** Ids of the contents held in memory (tests). */
  get held(): string[] {
    return [...this.#cache.keys()];
  }

  /** Keeps the contents sent with an assignments message. */
  receive(files: readonly AssignedFile[] | undefined): void {
    for (const f of files ?? []) {
      this.#cache.get(f.id)?.fill(0);
      this.#cache.set(f.id, Buffer.from(f.data, 'base64'));
    }
  }

  /** Forgets (and zeroes) every content no assigned task uses any more. */
  retain(ids: ReadonlySet<string>): void {
    for (const [id, data] of this.#cache) {
      if (ids.has(id)) continue;
      data.fill(0);
      this.#cache.delete(id);
    }
  }

  /** The task's mount point. */
  dirOf(taskId: string): string {
    return join(this.#runtimeDir(), 'tasks', taskId);
  }

  /**
   * Mounts the task's tmpfs and writes its files; undefined when it uses none. Throws (the task
   * is rejected) when a content was not received or the tmpfs cannot be mounted; nothing is
   * left mounted then.
   */
  async prepare(task: Task): Promise<PreparedFiles | undefined> {
    const plan = planFiles(task);
    if (!plan.ok) throw new Error(plan.error);
    if (plan.files.length === 0) return undefined;
    const missing = plan.files.filter((f) => !this.#cache.has(f.id));
    if (missing.length > 0) {
      throw new Error(`${missing.map((f) => `${f.kind} ${f.name}`).join(', ')} not received from the manager (removed, or the manager cannot open it)`);
    }
    const dir = this.dirOf(task.id);
    const size = plan.files.reduce((n, f) => n + (this.#cache.get(f.id)?.length ?? 0) + 4096, 0);
    try {
      await this.#fs.mount(dir, size);
      for (const f of plan.files) {
        const data = this.#cache.get(f.id);
        if (!data) throw new Error(`${f.kind} ${f.name} vanished`);
        await this.#fs.write(join(dir, f.relPath), data, { uid: f.uid, gid: f.gid, mode: f.mode });
      }
    } catch (err) {
      await this.#fs.unmount(dir).catch(() => undefined);
      throw err;
    }
    this.#logger.debug({ task: task.id, files: plan.files.length }, 'task files mounted');
    return {
      fileMounts: plan.files.map((f) => ({ hostPath: join(dir, f.relPath), target: f.target })),
      secretsDir: join(dir, 'secrets'),
      configsDir: join(dir, 'configs'),
    };
  }

  /** Unmounts a task's tmpfs (if any); safe to call for any task, any number of times. */
  async release(taskId: string): Promise<void> {
    await this.#fs.unmount(this.dirOf(taskId));
  }
}

/** Ids of the secrets and configs a task uses. */
export function fileIdsOf(task: Task): string[] {
  const c = task.spec.container;
  return [...(c.secrets ?? []), ...(c.configs ?? [])].map((r) => r.id);
}
