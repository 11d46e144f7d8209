import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { DriverError } from '../driver.ts';
import { parseProcStat } from './proc.ts';
import type { ExecTaskRecord, TaskDir } from './task-dir.ts';

/**
 * The supervisor: a tiny `sh` that runs the program as its child and writes the child's exit
 * status to fd 3 (the task's `exit` file). It is spawned detached (its own session and
 * process group), so it outlives the agent, and the status survives an agent restart.
 *
 * Signals: the driver signals the whole process group. The supervisor catches the common
 * ones with a no-op trap (so it survives and records the status) while the program, which
 * starts with default dispositions, gets them. A trapped signal does not interrupt the
 * shell's wait for a foreground command, so the status is always the program's own
 * (128 + n when signal n killed it). SIGKILL kills the supervisor too; the driver then
 * records the status itself. fd 4 says "ready" once the traps are set, so a stop right
 * after start cannot kill the supervisor by accident. Once the program exits and its status
 * is written, the supervisor SIGKILLs its whole process group (itself included), so no
 * stray child of the program outlives it, as when a container's init exits (processes
 * that left the group with setsid escape this).
 */
const SCRIPT = 'trap : HUP INT QUIT ABRT USR1 USR2 ALRM TERM XCPU XFSZ VTALRM PROF PWR; echo ready >&4; exec 4>&-; "$@" 3>&-; echo "$?" >&3; kill -9 0';

/** What `spawnSupervised` started. */
export interface Supervised {
  readonly pid: number;
  readonly startTime: number;
}

/**
 * Starts the task's program under a supervisor; resolves once the supervisor is ready.
 * `prefix`: a command that execs the supervisor in the task's network namespace (`netns.ts`
 * `enterPrefix`); it is spawned as root and drops to the task's user itself.
 */
export async function spawnSupervised(dir: TaskDir, rec: ExecTaskRecord, prefix?: readonly string[]): Promise<Supervised> {
  const out = openSync(dir.stdoutPath, 'a', 0o600);
  const err = openSync(dir.stderrPath, 'a', 0o600);
  const exit = openSync(dir.exitPath, 'w', 0o600);
  try {
    const argv = [...(prefix ?? []), '/bin/sh', '-c', SCRIPT, 'flotilla-exec', ...rec.argv];
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', out, err, exit, 'pipe'],
      env: { ...rec.env },
      cwd: rec.cwd,
      ...(prefix !== undefined || rec.uid === undefined ? {} : { uid: rec.uid }),
      ...(prefix !== undefined || rec.gid === undefined ? {} : { gid: rec.gid }),
    });
    // Read the start time now: until the event loop turns, the supervisor cannot have been
    // reaped, so its /proc entry exists even if it already exited.
    let startTime: number | undefined;
    if (child.pid !== undefined) {
      try {
        startTime = parseProcStat(readFileSync(`/proc/${child.pid}/stat`, 'utf8'))?.startTime;
      } catch {
        startTime = undefined;
      }
    }
    const ready = child.stdio[4];
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string, cause?: unknown): void =>
        reject(new DriverError('start_failed', `exec ${rec.argv[0] ?? ''}: ${why}`, { cause }));
      child.once('error', (e) => fail(e.message, e));
      child.once('exit', (code, sig) => fail(`supervisor exited before it was ready (${sig ?? `code ${code}`})${lastLine(dir.stderrPath)}`));
      ready?.once('data', () => resolve());
      ready?.once('error', (e) => fail(e.message, e));
    });
    child.removeAllListeners('exit');
    child.removeAllListeners('error');
    ready?.destroy();
    child.unref();
    if (child.pid === undefined || startTime === undefined) {
      throw new DriverError('start_failed', `exec ${rec.argv[0] ?? ''}: could not read the supervisor's process start time`);
    }
    return { pid: child.pid, startTime };
  } finally {
    closeSync(out);
    closeSync(err);
    closeSync(exit);
  }
}

/** `: <the last line of the file>` (what a wrapper that failed before the program said), or ''. */
function lastLine(path: string): string {
  try {
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const last = lines[lines.length - 1]?.trim();
    return last ? `: ${last}` : '';
  } catch {
    return '';
  }
}
