import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';

/** What a command did. A command that could not be started (not installed) has code 127. */
export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * How the data plane touches the kernel of its network namespace: runs a command (argv, with
 * optional standard input) and writes `/proc/sys` settings. `/proc/sys/net` shows the network
 * namespace of the process that opens it, so a runner that runs commands in another namespace
 * (`nsenter --net`) must write the settings from inside it as well: the two go together.
 */
export interface CommandRunner {
  run(argv: readonly string[], stdin?: string): Promise<CommandResult>;
  /**
   * Writes each `/proc/sys/<key>` (keys like `net/ipv4/ip_forward`). Resolves with the keys
   * that could not be written (a missing device, a missing module); never rejects for those.
   */
  writeSysctls(entries: ReadonlyArray<readonly [string, string]>): Promise<string[]>;
}

/** Runs `argv` and collects its output; code 127 when the program is missing. */
export function runCommand(argv: readonly string[], stdin?: string): Promise<CommandResult> {
  return new Promise((resolve) => {
    const [cmd, ...args] = argv;
    if (cmd === undefined) {
      resolve({ code: 127, stdout: '', stderr: 'empty command' });
      return;
    }
    const child = spawn(cmd, args, { stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ code: err.code === 'ENOENT' ? 127 : 126, stdout, stderr: stderr + String(err.message) });
    });
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    if (stdin !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // the program may exit before reading it all
      child.stdin.end(stdin);
    }
  });
}

/** The runner of the agent's own network namespace: commands as they are, `/proc/sys` by `fs`. */
export function hostRunner(): CommandRunner {
  return {
    run: runCommand,
    async writeSysctls(entries) {
      const failed: string[] = [];
      for (const [key, value] of entries) {
        try {
          await writeFile(`/proc/sys/${key}`, value);
        } catch {
          failed.push(key);
        }
      }
      return failed;
    },
  };
}

/**
 * A runner for the network namespace at `netnsPath` (`/run/netns/<name>`), from a process
 * outside it: every command through `nsenter --net=…`, the sysctls by one shell inside it.
 */
export function nsenterRunner(netnsPath: string): CommandRunner {
  const enter = ['nsenter', `--net=${netnsPath}`];
  return {
    run: (argv, stdin) => runCommand([...enter, ...argv], stdin),
    async writeSysctls(entries) {
      if (entries.length === 0) return [];
      // Keys and values go through stdin, never through the shell's parser.
      const script = 'while read -r k v; do printf %s "$v" > "/proc/sys/$k" 2>/dev/null || echo "$k"; done';
      const input = entries.map(([k, v]) => `${k} ${v}\n`).join('');
      const r = await runCommand([...enter, 'sh', '-c', script], input);
      if (r.code !== 0) return entries.map(([k]) => k);
      return r.stdout.split('\n').filter(Boolean);
    },
  };
}
