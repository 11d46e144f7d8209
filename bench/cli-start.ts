/**
 * CLI start benchmark: how long `flotilla` takes from exec to exit for commands that do almost
 * nothing else, i.e. what a user waits for on every call before the command's own work.
 *
 *   - `flotilla --help` (loads every command group),
 *   - `flotilla stack config -c FILE` (the compose loader, a two-file project of
 *     src/compose/testdata/webapp),
 *   - `flotilla service ls` against a live control API (an in-process API on a unix socket,
 *     with three services),
 *   - `node -e 0`, the floor: Node itself on this machine.
 *
 * Each command runs `bin/flotilla.js` as users do, with Node's compile cache in a directory of
 * its own (filled by the warm-up runs, as the first call after an install fills the user's);
 * `stack config` also runs once more without the cache. Target: 0.4 s (median) for
 * `stack config` and `service ls`. The target is on wall-clock time, which a loaded machine
 * (the load average is printed) makes longer; each command's CPU time (user + system, reported
 * by the process itself as it exits) is printed beside it, and is what to compare across runs
 * on a busy machine.
 *
 *   npm run bench:cli     (or: node bench/cli-start.ts [--runs 15] [--warmup 3])
 *
 * The last line is one JSON object:
 *   {"targetSeconds":0.4,"runs":15,"loadAverage":[…],"nodeFloorSeconds":…,
 *    "commands":{"help":{"medianSeconds":…,"minSeconds":…,"meanSeconds":…,"cpuSeconds":…},…},
 *    "stackConfigNoCacheSeconds":…,"withinTarget":true}
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startApi } from '../src/testing/api-harness.ts';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
  },
});
const RUNS = Number(args.runs);
const WARMUP = Number(args.warmup);
const TARGET_SECONDS = 0.4;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(root, 'bin', 'flotilla.js');
const webapp = join(root, 'src', 'compose', 'testdata', 'webapp');

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * A preload that reports the child's own CPU time (user + system) on fd 3 as it exits: the
 * figure a loaded machine distorts least (its wall time waits for other processes' turns).
 */
const CPU_REPORT = `data:text/javascript,${encodeURIComponent(
  "import { writeSync } from 'node:fs'; process.on('exit', () => { const u = process.cpuUsage(); writeSync(3, String(u.user + u.system)); });",
)}`;

/** Runs one command to its exit: its wall and CPU seconds. Fails on an exit code other than 0. */
function timeOnce(argv: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<{ wall: number; cpu: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--import', CPU_REPORT, ...argv], { cwd, env, stdio: ['ignore', 'ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let cpu = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (cpu += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      if (code === 0) resolve({ wall, cpu: Number(cpu) / 1e6 });
      else reject(new Error(`${argv.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

interface Figures {
  medianSeconds: number;
  minSeconds: number;
  meanSeconds: number;
  /** Median CPU time (user + system) of the process. */
  cpuSeconds: number;
}

/** Warm-up runs, then `runs` timed runs, one after another. */
async function measure(argv: readonly string[], env: NodeJS.ProcessEnv, cwd = root, runs = RUNS): Promise<Figures> {
  for (let i = 0; i < WARMUP; i++) await timeOnce(argv, env, cwd);
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = await timeOnce(argv, env, cwd);
    walls.push(t.wall);
    cpus.push(t.cpu);
  }
  return { medianSeconds: round(median(walls)), minSeconds: round(Math.min(...walls)), meanSeconds: round(walls.reduce((a, b) => a + b, 0) / walls.length), cpuSeconds: round(median(cpus)) };
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function main(): Promise<void> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'flotilla-bench-cli-'));
  const h = await startApi({ listen: true });
  try {
    for (const name of ['web', 'api', 'worker']) {
      const r = await h.call('POST', '/v1/services', { name, taskTemplate: { container: { image: 'nginx:alpine' } } });
      if (r.status !== 201) throw new Error(`creating service ${name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    }
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_COMPILE_CACHE: cacheDir, FLOTILLA_HOST: `unix://${h.socketPath}`, FLOTILLA_HOME: h.dir };
    delete env['NODE_DISABLE_COMPILE_CACHE'];
    const load = loadavg().map((l) => Math.round(l * 100) / 100);
    log(`cli start: ${RUNS} runs after ${WARMUP} warm-up runs each, target ${TARGET_SECONDS} s (median); load average ${load.join(' ')}`);

    const floor = await measure(['-e', '0'], env);
    log(`  ${'node -e 0 (the floor)'.padEnd(30)} median ${floor.medianSeconds.toFixed(3)} s  min ${floor.minSeconds.toFixed(3)} s  cpu ${floor.cpuSeconds.toFixed(3)} s`);
    const stackArgs = [bin, 'stack', 'config', '-c', 'compose.yaml', '-c', 'compose.override.yaml'];
    const commands: Record<string, { label: string; argv: string[]; cwd?: string; target: boolean }> = {
      help: { label: '--help', argv: [bin, '--help'], target: false },
      stackConfig: { label: 'stack config -c … -c …', argv: stackArgs, cwd: webapp, target: true },
      serviceLs: { label: 'service ls', argv: [bin, 'service', 'ls'], target: true },
    };
    const results: Record<string, Figures> = {};
    let withinTarget = true;
    for (const [name, c] of Object.entries(commands)) {
      const f = await measure(c.argv, env, c.cwd);
      results[name] = f;
      const verdict = c.target ? (f.medianSeconds <= TARGET_SECONDS ? '  within target' : '  OVER TARGET') : '';
      if (c.target && f.medianSeconds > TARGET_SECONDS) withinTarget = false;
      log(`  ${`flotilla ${c.label}`.padEnd(30)} median ${f.medianSeconds.toFixed(3)} s  min ${f.minSeconds.toFixed(3)} s  cpu ${f.cpuSeconds.toFixed(3)} s${verdict}`);
    }
    const noCache = await measure(stackArgs, { ...env, NODE_DISABLE_COMPILE_CACHE: '1' }, webapp, Math.max(3, Math.floor(RUNS / 3)));
    log(`  ${'stack config, no compile cache'.padEnd(30)} median ${noCache.medianSeconds.toFixed(3)} s  min ${noCache.minSeconds.toFixed(3)} s  cpu ${noCache.cpuSeconds.toFixed(3)} s`);
    log(
      JSON.stringify({
        targetSeconds: TARGET_SECONDS,
        runs: RUNS,
        loadAverage: load,
        nodeFloorSeconds: floor.medianSeconds,
        commands: results,
        stackConfigNoCacheSeconds: noCache.medianSeconds,
        withinTarget,
      }),
    );
  } finally {
    await h.close();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

await main();
