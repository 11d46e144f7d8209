import { execFile } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import type { NodeNetworkDescription } from '../../api/node.ts';

/**
 * The node's underlay: the address VXLAN runs between (the source address of its route to the
 * manager), the device that route leaves by, and that device's MTU (overlays get 50 less).
 */
export interface Underlay {
  readonly addr: string;
  readonly dev: string;
  readonly mtu: number;
}

/** How `detectUnderlay` reaches the system; tests pass fakes. */
export interface UnderlayDeps {
  /** Runs `ip` with these arguments, resolving with its standard output; rejects when it fails or is missing. */
  readonly ip?: (args: readonly string[]) => Promise<string>;
  /** Resolves a host name to an IPv4 address. */
  readonly resolve?: (host: string) => Promise<string>;
}

/** Where the default route is asked for when there is no manager address to ask about. */
export const DEFAULT_UNDERLAY_TARGET = '1.1.1.1';

/**
 * Finds the node's underlay by asking the kernel for its route to `target` (the manager's
 * host: an IPv4 address or a name; default: the default route) with `ip -j route get`, and
 * the MTU of the device it leaves by with `ip -j link show`. A manager on this very host
 * (a local route) gives the address it was reached at and the device holding that address;
 * a loopback answer (a manager on 127.0.0.1) falls back to the default route. Undefined when
 * there is no route, no `ip`, or its answer makes no sense. Read-only: it changes nothing
 * and never reads `/sys/class/net` (which shows the root namespace under `nsenter --net`).
 */
export async function detectUnderlay(target?: string, deps: UnderlayDeps = {}): Promise<Underlay | undefined> {
  const ip = deps.ip ?? runIp;
  const resolve = deps.resolve ?? resolveIPv4;
  let dst = DEFAULT_UNDERLAY_TARGET;
  if (target !== undefined && target !== '') {
    // An IPv6 manager address says nothing about the IPv4 underlay VXLAN uses here.
    const resolved = isIPv4(target) ? target : await resolve(target).catch(() => undefined);
    if (resolved !== undefined && isIPv4(resolved)) dst = resolved;
  }
  const found = await underlayVia(dst, ip);
  if (found !== 'loopback') return found;
  return dst === DEFAULT_UNDERLAY_TARGET ? undefined : nonLoopback(await underlayVia(DEFAULT_UNDERLAY_TARGET, ip));
}

/**
 * The node's network description from its underlay. Encryption is `none`: this agent's data
 * path is plain VXLAN, and fingerprinting kernel IPsec or WireGuard support comes with the
 * encrypted data path (probing by creating devices in the root namespace is not an option).
 * Without an underlay the node says why overlays cannot work and assumes a 1500-byte MTU.
 */
export function describeNetwork(underlay: Underlay | undefined): NodeNetworkDescription {
  if (!underlay) {
    return { mtu: 1500, encryption: 'none', unavailable: 'no underlay: no IPv4 route to the manager (or no ip command)' };
  }
  return { underlay: underlay.addr, mtu: underlay.mtu, encryption: 'none' };
}

interface RouteAnswer {
  readonly type?: string;
  readonly dev?: string;
  readonly prefsrc?: string;
}

interface LinkAnswer {
  readonly ifname?: string;
  readonly mtu?: number;
}

/** The underlay on the route to `dst`; `loopback` when only a loopback route answers. */
async function underlayVia(dst: string, ip: (args: readonly string[]) => Promise<string>): Promise<Underlay | 'loopback' | undefined> {
  const route = first<RouteAnswer>(await ip(['-j', 'route', 'get', dst]).catch(() => undefined));
  const addr = route?.prefsrc;
  if (!route || addr === undefined || !isIPv4(addr) || route.dev === undefined) return undefined;
  if (addr.startsWith('127.')) return 'loopback';
  if (route.type === 'local' || route.dev === 'lo') {
    // The manager is at one of this host's own addresses: the underlay is that address, on
    // the device that holds it.
    const link = first<LinkAnswer>(await ip(['-j', '-4', 'addr', 'show', 'to', `${addr}/32`]).catch(() => undefined));
    return link?.ifname && validMtu(link.mtu) ? { addr, dev: link.ifname, mtu: link.mtu } : undefined;
  }
  const link = first<LinkAnswer>(await ip(['-j', 'link', 'show', 'dev', route.dev]).catch(() => undefined));
  return validMtu(link?.mtu) ? { addr, dev: route.dev, mtu: link.mtu } : undefined;
}

function nonLoopback(u: Underlay | 'loopback' | undefined): Underlay | undefined {
  return u === 'loopback' ? undefined : u;
}

function validMtu(mtu: number | undefined): mtu is number {
  return typeof mtu === 'number' && Number.isInteger(mtu) && mtu >= 576;
}

/** The first object of `ip -j`'s JSON array, or undefined for anything else. */
function first<T>(text: string | undefined): T | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    const o: unknown = Array.isArray(v) ? v[0] : undefined;
    return typeof o === 'object' && o !== null ? (o as T) : undefined;
  } catch {
    return undefined;
  }
}

function runIp(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('ip', [...args], { timeout: 5_000, encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

async function resolveIPv4(host: string): Promise<string> {
  return (await lookup(host, { family: 4 })).address;
}
