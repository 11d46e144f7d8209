import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The `flotilla` command of this checkout. */
export const FLOTILLA_BIN = join(resolve(import.meta.dirname, '../..'), 'bin/flotilla.js');

/** A long-running `flotilla` process (server, join) with its output collected. */
export interface CliProcess {
  readonly proc: ChildProcess;
  out: string;
  err: string;
}

/** Starts `flotilla ARGS` under this Node, collecting stdout and stderr. */
export function startCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const proc = spawn(process.execPath, [FLOTILLA_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: CliProcess = { proc, out: '', err: '' };
  proc.stdout?.on('data', (d: Buffer) => (p.out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (p.err += d.toString()));
  return p;
}

/** SIGTERM, then SIGKILL after `killAfterMs`; resolves once it exited. No-op when it already has. */
export async function stopCli(p: CliProcess | undefined, killAfterMs = 30_000): Promise<void> {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode !== null) return;
  const exited = new Promise((r) => p.proc.once('exit', r));
  p.proc.kill('SIGTERM');
  const t = setTimeout(() => p.proc.kill('SIGKILL'), killAfterMs);
  await exited;
  clearTimeout(t);
}
