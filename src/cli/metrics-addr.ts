import { DEFAULT_AGENT_METRICS_PORT } from '../agent/metrics.ts';
import { UsageError } from './parse.ts';

/** The `--metrics-addr` flag of the commands that run an agent (`join`, `server`, `dev`). */
export const METRICS_ADDR_HELP = `Serve the agent's Prometheus metrics at http://HOST:PORT/metrics; "off" for none (default: 127.0.0.1:${DEFAULT_AGENT_METRICS_PORT}, this host only)`;

/** `--metrics-addr`: `HOST:PORT`, `:PORT` or `PORT` (loopback), `off`; absent: `127.0.0.1:4281`. */
export function parseMetricsAddr(text: string | undefined): { host: string; port: number } | undefined {
  if (text === undefined) return { host: '127.0.0.1', port: DEFAULT_AGENT_METRICS_PORT };
  if (text.trim() === 'off') return undefined;
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[2]);
  if (!m || port < 1 || port > 65_535) throw new UsageError(`invalid --metrics-addr "${text}": expected HOST:PORT (e.g. 0.0.0.0:${DEFAULT_AGENT_METRICS_PORT} for other hosts), :PORT, or off`);
  return { host: m[1] === undefined || m[1] === '' ? '127.0.0.1' : m[1], port };
}

/** The `metrics` option of `NodeAgent.create` for a `--metrics-addr` flag (none for `off`). */
export function metricsOption(text: string | undefined): { metrics?: { host: string; port: number } } {
  const addr = parseMetricsAddr(text);
  return addr ? { metrics: addr } : {};
}
