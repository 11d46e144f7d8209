import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** The outcome of one command run to completion. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Default 60 s; the command is killed after it. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** A non-zero exit is returned instead of thrown. */
  readonly allowFail?: boolean;
}

/**
 * Runs a command to completion and returns its output. Throws, naming the command and its
 * stderr, when it exits non-zero (unless `allowFail`).
 */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      [...args],
      { timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        const result = { code, stdout: String(stdout), stderr: String(stderr) };
        if (code !== 0 && !options.allowFail) {
          reject(new Error(`\`${cmd} ${args.join(' ')}\` failed (${code}): ${result.stderr.trim() || err?.message}`));
        } else {
          resolve(result);
        }
      },
    );
  });
}

/** Every process group started by {@link GroupProcess}, killed when this process exits. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test crashes: nothing the bed started may outlive the test process.
  process.once('exit', () => {
    for (const pgid of liveGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

/**
 * A long-running process in its own process group (so a signal reaches everything it
 * started), with stdout and stderr appended to a log file.
 */
export class GroupProcess {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(name: string, argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env) {
    installExitHook();
    this.name = name;
    this.logFile = logFile;
    const [cmd, ...args] = argv;
    if (cmd === undefined) throw new Error(`${name}: empty command line`);
    const fd = openSync(logFile, 'a');
    try {
      this.#child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    } finally {
      closeSync(fd);
    }
    const pid = this.#child.pid;
    if (pid !== undefined) liveGroups.add(pid);
    this.#exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        if (pid !== undefined) liveGroups.delete(pid);
        resolve(this.#exit);
      });
      this.#child.once('error', (err) => {
        this.#exit = { code: 127, signal: null };
        if (pid !== undefined) liveGroups.delete(pid);
        resolve(this.#exit);
        void err;
      });
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** How it ended, or undefined while it runs. */
  get exit(): { code: number | null; signal: NodeJS.Signals | null } | undefined {
    return this.#exit;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Resolves when the process has exited. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.#exited;
  }

  /** Signals the whole process group. */
  signal(sig: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#exit) return;
    try {
      process.kill(-pid, sig);
    } catch {
      // the group is gone
    }
  }

  /**
   * Stops the process: `sig` to its group, then SIGKILL after `graceMs`; resolves once it
   * has exited.
   */
  async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    if (this.#exit) return;
    this.signal(sig);
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
    // Stragglers of the group (children that ignored the signal) go too.
    const pid = this.#child.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // none left
      }
    }
  }

  /** The last `lines` lines of its log, for failure messages. */
  tail(lines = 40): string {
    return tailOf(this.logFile, lines);
  }
}

/** The last lines of a file ('' when it cannot be read). */
export function tailOf(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines - 1).join('\n');
  } catch {
    return '';
  }
}
