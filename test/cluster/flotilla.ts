import { join, resolve } from 'node:path';
import { netnsPath } from './netns.ts';
import { run, type RunResult } from './proc.ts';

/** The repository's root and its `flotilla` entry point. */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const FLOTILLA_BIN = join(REPO_ROOT, 'bin/flotilla.js');

/** The API port the manager serves HTTPS on. */
export const API_PORT = 4280;

/** `flotilla ARGS…` run by the Node running the tests (the pinned Node 24). */
export function flotillaArgv(args: readonly string[]): string[] {
  return [process.execPath, FLOTILLA_BIN, ...args];
}

/**
 * `argv` run inside a host: in its network namespace (`nsenter --net=`, which keeps the
 * machine's /sys and cgroup mounts, unlike `ip netns exec`) and in a UTS namespace of its own
 * whose hostname is the host's name, so each agent reports a different hostname.
 */
export function inHost(ns: string, hostname: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=${netnsPath(ns)}`, 'unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', hostname, ...argv];
}

/**
 * The environment for Flotilla processes of the bed: the caller's, minus anything that would
 * point them at another cluster, plus `extra`.
 */
export function flotillaEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FLOTILLA_LOG_LEVEL: process.env['FLOTILLA_LOG_LEVEL'] ?? 'info', ...extra };
  for (const k of ['FLOTILLA_HOST', 'FLOTILLA_CONTEXT', 'DOCKER_HOST', 'DOCKER_CONTEXT']) delete env[k];
  return env;
}

/**
 * Runs one `flotilla` command in the test process's namespace against the manager's unix
 * socket (`FLOTILLA_HOME` = the manager's data dir: unix sockets cross network namespaces).
 */
export function flotillaCli(managerDir: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return run(process.execPath, [FLOTILLA_BIN, ...args], { env: flotillaEnv({ FLOTILLA_HOME: managerDir }), allowFail: true, timeoutMs });
}
