import { run } from '../cli/main.ts';

/** What one `flotilla` run printed and its exit code. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the CLI in this process, as `flotilla ARGV…` typed in `cwd`, with only `env` for an
 * environment (HOME `/home/test` unless given) and a clock stopped at 0; output is captured.
 */
export async function runCli(argv: string[], cwd: string, env: Record<string, string> = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const previous = process.cwd();
  process.chdir(cwd);
  try {
    const code = await run(argv, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: { HOME: '/home/test', ...env },
      now: () => 0,
    });
    return { code, stdout, stderr };
  } finally {
    process.chdir(previous);
  }
}
