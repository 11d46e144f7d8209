import type { Logger } from '../lib/logger.ts';
import type { DashboardAssets, DashboardGate } from '../manager/dashboard/gate.ts';

/** Where `flotilla dev` serves the dashboard unless `--dashboard-addr` says otherwise. */
export const DEFAULT_DASHBOARD_ADDR = '127.0.0.1:4280';
export const DASHBOARD_ADDR_HELP = `Serve the web dashboard at http://HOST:PORT/ (a loopback address); "off" for none (default: ${DEFAULT_DASHBOARD_ADDR})`;

/** The dashboard's files, or undefined (after saying why) when they cannot be built: the cluster runs without it. */
export async function dashboardAssets(say: (s: string) => void): Promise<DashboardAssets | undefined> {
  try {
    // Loaded here, not at the top: a command that serves no dashboard (and `--help`) never loads the build.
    const { buildDashboard } = await import('../ui/build.ts');
    return await buildDashboard();
  } catch (err) {
    say(`no dashboard: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Serves the gate on a loopback listener of its own (`flotilla dev`), and says where, with a
 * one-time login link. The default address taken by something else is a warning; an address
 * the user chose must be free.
 */
export async function serveDevDashboard(
  gate: DashboardGate,
  addr: { host: string; port: number },
  deps: { logger: Logger; say: (s: string) => void; chosen: boolean },
): Promise<{ stop(): Promise<void>; readonly addresses: readonly string[] } | undefined> {
  const { HttpListeners } = await import('../manager/http/listeners.ts');
  const http = new HttpListeners({ logger: deps.logger }, { listen: [addr] });
  http.mount('/', gate.handler);
  try {
    await http.start();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (deps.chosen || code !== 'EADDRINUSE') throw err;
    deps.say(`no dashboard: ${addr.host}:${addr.port} is in use (choose another address with --dashboard-addr)`);
    return undefined;
  }
  const url = http.addresses[0] ?? '';
  deps.say(`dashboard on ${url}/ — sign in with this one-time link: ${url}/ui/login#${gate.issueLoginNonce()}`);
  return http;
}
