import { spawn } from 'node:child_process';
import type { Clock } from '../../../lib/clock.ts';
import type { ExecInOptions, ExecInResult } from '../driver.ts';
import type { ExecTaskRecord } from './task-dir.ts';

/** Output kept of a command (Docker keeps 4 KiB of a health check's). */
const MAX_OUTPUT = 4_096;

/**
 * Runs `argv` as a host process in an exec task's environment: its env (PATH included, used
 * to find argv[0]), workdir and user, in a process group of its own so a timeout kills every
 * process it started. Resolves with the exit code and the first 4 KiB of stdout+stderr;
 * never rejects for the command's sake (a program that cannot start is exit code 127). For a
 * task on networks, `prefix` runs it inside the task's network namespace, with its resolv.conf.
 */
export function execInTask(
  rec: ExecTaskRecord,
  argv: readonly string[],
  options: ExecInOptions,
  clock: Clock,
  prefix?: readonly string[],
): Promise<ExecInResult> {
  if (argv[0] === undefined) return Promise.resolve({ exitCode: 127, output: 'no command given' });
  // In a network namespace: through `prefix` (netns.ts `enterPrefix`), spawned as root; it drops to the user.
  const [program, ...args] = [...(prefix ?? []), ...argv] as [string, ...string[]];
  return new Promise((resolve) => {
    let output = '';
    let timedOut = false;
    let settled = false;
    const child = spawn(program, args, {
      env: { ...rec.env },
      cwd: rec.cwd,
      ...(prefix !== undefined || rec.uid === undefined ? {} : { uid: rec.uid }),
      ...(prefix !== undefined || rec.gid === undefined ? {} : { gid: rec.gid }),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (chunk: Buffer): void => {
      if (output.length < MAX_OUTPUT) output = (output + chunk.toString()).slice(0, MAX_OUTPUT);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const killGroup = (): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = clock.setTimer(options.timeoutMs, () => {
      timedOut = true;
      killGroup();
    });
    const onAbort = (): void => killGroup();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (result: ExecInResult): void => {
      if (settled) return;
      settled = true;
      timer.cancel();
      options.signal?.removeEventListener('abort', onAbort);
      resolve(result);
    };
    child.once('error', (e) => finish({ exitCode: 127, output: `${program}: ${e.message}` }));
    child.once('close', (code, signal) => {
      const exitCode = code ?? 128 + (signal === 'SIGKILL' ? 9 : 15);
      finish({ exitCode, output, ...(timedOut ? { timedOut } : {}) });
    });
  });
}
