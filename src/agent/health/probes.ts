import { request } from 'node:http';
import { connect } from 'node:net';
import type { Healthcheck } from '../../api/service.ts';
import type { Driver } from '../drivers/driver.ts';
import type { Probe } from './monitor.ts';
import type { ProbeResult } from './judge.ts';

/**
 * The probes the agent runs itself: an HTTP GET, a TCP connect, and a `test` command run
 * through the driver's `execIn`. Each honours the abort signal the monitor gives it (its
 * timeout) and resolves, never rejects, with what it saw.
 */

/** Where a probe connects: the task's address on this node (a container's IP, or 127.0.0.1). */
export type AddressOf = () => Promise<string>;

/**
 * GET `http://<address>:<port><path>`; passes on `status` when given, otherwise on any 2xx or
 * 3xx. The body is not read beyond what arrives with the headers.
 */
export function httpProbe(check: NonNullable<Healthcheck['http']>, addressOf: AddressOf): Probe {
  const path = check.path.startsWith('/') ? check.path : `/${check.path}`;
  return async (signal) => {
    const host = await addressOf();
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${check.port}${path}`;
    return new Promise<ProbeResult>((resolve) => {
      const req = request(url, { method: 'GET', signal, headers: { 'user-agent': 'flotilla-health/1' } }, (res) => {
        const code = res.statusCode ?? 0;
        res.resume();
        const ok = check.status === undefined ? code >= 200 && code < 400 : code === check.status;
        const wanted = check.status === undefined ? '2xx or 3xx' : String(check.status);
        resolve({ ok, output: ok ? `GET ${url}: ${code}` : `GET ${url}: status ${code}, expected ${wanted}` });
      });
      req.on('error', (e) => resolve({ ok: false, output: `GET ${url}: ${reasonOf(e, signal)}` }));
      req.end();
    });
  };
}

/** Opens a TCP connection to `<address>:<port>` and closes it; passes when it opens. */
export function tcpProbe(check: NonNullable<Healthcheck['tcp']>, addressOf: AddressOf): Probe {
  return async (signal) => {
    const host = await addressOf();
    const where = `${host.includes(':') ? `[${host}]` : host}:${check.port}`;
    return new Promise<ProbeResult>((resolve) => {
      const socket = connect({ host, port: check.port, signal });
      socket.once('connect', () => {
        socket.destroy();
        resolve({ ok: true, output: `connected to ${where}` });
      });
      socket.once('error', (e) => {
        socket.destroy();
        resolve({ ok: false, output: `connect ${where}: ${reasonOf(e, signal)}` });
      });
    });
  };
}

/**
 * A spec `test` (`CMD …` or `CMD-SHELL …`) as argv: `CMD-SHELL` runs its text with `/bin/sh -c`.
 * Undefined for `NONE` (no check) or an unknown form.
 */
export function testArgv(test: readonly string[]): string[] | undefined {
  const [kind, ...rest] = test;
  if (kind === 'CMD' && rest.length > 0) return rest;
  if (kind === 'CMD-SHELL' && rest.length > 0) return ['/bin/sh', '-c', rest.join(' ')];
  return undefined;
}

/** Runs `argv` in the task's environment through `driver.execIn`; passes on exit code 0. */
export function commandProbe(driver: Driver, taskId: string, argv: readonly string[], timeoutMs: number): Probe {
  return async (signal) => {
    if (!driver.execIn) return { ok: false, output: `the ${driver.name} driver cannot run health check commands` };
    const r = await driver.execIn(taskId, argv, { timeoutMs, signal });
    const output = r.output.trim();
    if (r.timedOut) return { ok: false, output: `health check timed out after ${timeoutMs}ms` };
    if (r.exitCode === 0) return { ok: true, output };
    return { ok: false, output: output === '' ? `exit code ${r.exitCode}` : output };
  };
}

function reasonOf(e: Error, signal: AbortSignal): string {
  if (signal.aborted) return signal.reason instanceof Error ? signal.reason.message : 'aborted';
  return e.message;
}
