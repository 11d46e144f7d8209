import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExitResult } from '../driver.ts';
import type { TaskNet } from './netns.ts';

/**
 * The exec driver's on-disk state for one task, `<dataDir>/exec/<taskId>/`, which is what
 * lets a restarted agent find and adopt its processes:
 * - `task.json`  what to run and the task's labels (written by prepare)
 * - `run.json`   the supervisor's pid and start time (written by start)
 * - `exit`       `<code>\n` written by the supervisor when the program exits, or
 *                `<code> <reason>\n` written by the driver after it killed the supervisor
 * - `stdout.log`, `stderr.log`  the program's output
 * - `netns`      a task on networks: its network namespace, pinned by a bind mount (`netns.ts`)
 */

/** What prepare decided to run (task.json). */
export interface ExecTaskRecord {
  readonly version: 1;
  readonly taskId: string;
  readonly nodeId: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Program and arguments; argv[0] resolved to an absolute path. */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
  readonly uid?: number;
  readonly gid?: number;
  /** A task on networks: its namespace, links and resolv.conf (made at prepare). */
  readonly net?: TaskNet;
  readonly createdAt: string;
}

/** The running supervisor (run.json). */
export interface ExecRunRecord {
  /** The supervisor's pid, which is also the task's process group id. */
  readonly pid: number;
  /** From /proc/<pid>/stat: tells this process from a later one with the same pid. */
  readonly startTime: number;
  readonly startedAt: string;
}

/** Task ids become directory names: only these are allowed. */
const SAFE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function isSafeTaskId(id: string): boolean {
  return SAFE_ID.test(id);
}

/** Paths and reads/writes of one task's directory. */
export class TaskDir {
  readonly path: string;

  constructor(root: string, taskId: string) {
    this.path = join(root, taskId);
  }

  get stdoutPath(): string {
    return join(this.path, 'stdout.log');
  }

  get stderrPath(): string {
    return join(this.path, 'stderr.log');
  }

  get exitPath(): string {
    return join(this.path, 'exit');
  }

  get netnsPath(): string {
    return join(this.path, 'netns');
  }

  /** Makes the directory (before `create`, when the task's namespace is pinned in it). */
  async make(): Promise<void> {
    await mkdir(this.path, { recursive: true, mode: 0o700 });
  }

  async create(record: ExecTaskRecord): Promise<void> {
    await this.make();
    await writeAtomic(join(this.path, 'task.json'), JSON.stringify(record, null, 2));
  }

  readTask(): Promise<ExecTaskRecord | undefined> {
    return readJson<ExecTaskRecord>(join(this.path, 'task.json'));
  }

  writeRun(run: ExecRunRecord): Promise<void> {
    return writeAtomic(join(this.path, 'run.json'), JSON.stringify(run));
  }

  readRun(): Promise<ExecRunRecord | undefined> {
    return readJson<ExecRunRecord>(join(this.path, 'run.json'));
  }

  /** The recorded exit, or undefined while none is (a half-written file counts as none). */
  async readExit(): Promise<ExitResult | undefined> {
    let text: string;
    try {
      text = await readFile(this.exitPath, 'utf8');
    } catch {
      return undefined;
    }
    return parseExit(text);
  }

  /** Records an exit the supervisor could not (it was killed); keeps one already recorded. */
  async recordExit(result: ExitResult): Promise<void> {
    if (await this.readExit()) return;
    const text = result.reason === undefined ? `${result.exitCode}\n` : `${result.exitCode} ${result.reason}\n`;
    await writeAtomic(this.exitPath, text);
  }

  remove(): Promise<void> {
    return rm(this.path, { recursive: true, force: true });
  }
}

/** Parses the `exit` file: `<code>\n` or `<code> <reason>\n`. */
export function parseExit(text: string): ExitResult | undefined {
  const m = /^(\d+)(?: ([^\n]*))?\n$/.exec(text);
  if (!m) return undefined;
  return m[2] === undefined ? { exitCode: Number(m[1]) } : { exitCode: Number(m[1]), reason: m[2] };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}
