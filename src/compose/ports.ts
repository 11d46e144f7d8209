import { isIP } from 'node:net';
import type { PortMapping } from './model.ts';

/**
 * The short port syntax, `[[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL]`, where PUBLISHED and TARGET
 * may be ranges (`9090-9091:8080-8081` is two mappings; `8000-9000:80` is one mapping whose
 * published port is any free one in the range). IPv6 host addresses go in brackets.
 * Returns the long-syntax mappings, or a message saying what is wrong.
 */
export function parsePortShort(text: string): PortMapping[] | string {
  const usage = `invalid port "${text}": expected [[HOST_IP:]PUBLISHED:]TARGET[/PROTOCOL], e.g. "8080:80" or "127.0.0.1:53:53/udp"`;
  let rest = text.trim();
  let protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    protocol = rest.slice(slash + 1);
    rest = rest.slice(0, slash);
    if (!/^[a-z]+$/.test(protocol)) return usage;
  }
  let hostIp: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']:');
    if (close < 0) return usage;
    hostIp = rest.slice(1, close);
    rest = rest.slice(close + 2);
  }
  const parts = rest.split(':');
  if (parts.length > 3 && hostIp === undefined) {
    hostIp = parts.slice(0, -2).join(':');
    parts.splice(0, parts.length - 2);
  } else if (parts.length === 3) {
    if (hostIp !== undefined) return usage;
    hostIp = parts.shift();
  }
  if (parts.length > 2) return usage;
  if (hostIp !== undefined && hostIp !== '' && isIP(hostIp) === 0) return `invalid port "${text}": "${hostIp}" is not an IP address`;
  const target = range(parts[parts.length - 1] ?? '');
  const published = parts.length === 2 ? range(parts[0] ?? '') : undefined;
  if (!target || (parts.length === 2 && !published)) return usage;
  const base = (t: number, p: string | undefined): PortMapping => {
    const m: PortMapping = { mode: 'ingress', target: t, protocol };
    if (hostIp !== undefined && hostIp !== '') m.host_ip = hostIp;
    if (p !== undefined) m.published = p;
    return orderPort(m);
  };
  const [t0, t1] = target;
  const count = t1 - t0 + 1;
  if (!published) return Array.from({ length: count }, (_, i) => base(t0 + i, undefined));
  const [p0, p1] = published;
  if (count === 1) return [base(t0, p0 === p1 ? String(p0) : `${p0}-${p1}`)];
  if (p1 - p0 + 1 !== count) return `invalid port "${text}": the published range and the target range differ in size`;
  return Array.from({ length: count }, (_, i) => base(t0 + i, String(p0 + i)));
}

function range(text: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) return undefined;
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a < 1 || b > 65_535 || b < a) return undefined;
  return [a, b];
}

/** A mapping with its keys in the order `docker compose config` prints them. */
export function orderPort(p: PortMapping): PortMapping {
  const { name, mode, host_ip, target, published, protocol, app_protocol, ...rest } = p;
  const out = { ...(name === undefined ? {} : { name }), mode, ...(host_ip === undefined ? {} : { host_ip }), target, ...(published === undefined ? {} : { published }), protocol, ...(app_protocol === undefined ? {} : { app_protocol }), ...rest };
  return out as PortMapping;
}
