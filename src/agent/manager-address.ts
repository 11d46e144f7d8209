import { CodedError, errorGuard } from '../lib/coded-error.ts';

/*
 * A manager's address as a joining node (and `flotilla server --listen-addr`) writes it, and the
 * error of joining. Apart from `join.ts` (which re-exports them) so that parsing an address does
 * not load the node's credentials and their X.509 library: the CLI parses one on every
 * `flotilla server` and `join` before it starts anything.
 */

/** The manager's HTTPS port when an address names none. */
export const DEFAULT_MANAGER_PORT = 4280;

/** A manager's HTTPS address. */
export interface ManagerAddress {
  readonly host: string;
  readonly port: number;
}

export type JoinErrorCode = 'invalid_argument' | 'ca_mismatch' | 'unreachable' | 'refused' | 'protocol' | 'credential';

/** Every failure of joining or renewing, with what went wrong in one line. */
export class JoinError extends CodedError<JoinErrorCode> {
  override readonly name = 'JoinError';
}

export const isJoinError = errorGuard(JoinError);

/** `HOST`, `HOST:PORT`, `[V6]:PORT` or `https://HOST:PORT` → an address (port default 4280). */
export function parseManagerAddress(text: string): ManagerAddress {
  const t = text.trim().replace(/^https:\/\//, '').replace(/\/+$/, '');
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/\s]+))(?::(\d{1,5}))?$/.exec(t);
  const port = m?.[3] === undefined ? DEFAULT_MANAGER_PORT : Number(m[3]);
  const host = m?.[1] ?? m?.[2];
  if (!m || host === undefined || port < 1 || port > 65_535) {
    throw new JoinError('invalid_argument', `invalid manager address "${text}": expected HOST[:PORT], e.g. 192.168.1.10:${DEFAULT_MANAGER_PORT}`);
  }
  return { host, port };
}

/** `host:port` as users write it (IPv6 in brackets). */
export function formatManagerAddress(a: ManagerAddress): string {
  return `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
