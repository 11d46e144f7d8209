import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIP, isIPv6, connect } from 'node:net';
import type { Clock } from '../../../lib/clock.ts';
import { REFUSED, SERVFAIL, type Transport } from './answer.ts';

/**
 * Forwarding to the host's resolvers: each query goes to the upstream servers in turn, UDP
 * first (TCP when the UDP answer is truncated, or when the asker used TCP), with a timeout
 * per server; SERVFAIL, REFUSED or silence moves on to the next server. Every exchange uses
 * its own connected socket (a fresh source port) and a fresh random id, and accepts only a
 * response from the server it asked with that id — so a spoofed answer must guess both.
 */

/** An upstream DNS server. */
export interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** How many `nameserver` lines a resolver uses (glibc's MAXNS). */
const MAX_NAMESERVERS = 3;

/**
 * Reads `1.2.3.4`, `1.2.3.4:5353`, `::1` or `[::1]:5353`; undefined when it is none of these.
 */
export function parseUpstream(text: string): Upstream | undefined {
  const t = text.trim();
  const bracket = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(t);
  if (bracket) return upstream(bracket[1] ?? '', bracket[2]);
  const hostPort = /^([^:]+):(\d{1,5})$/.exec(t);
  if (hostPort) return upstream(hostPort[1] ?? '', hostPort[2]);
  return upstream(t, undefined);
}

function upstream(host: string, port: string | undefined): Upstream | undefined {
  // A scoped IPv6 address (`fe80::1%eth0`) is an address too.
  if (isIP(host.split('%')[0] ?? '') === 0) return undefined;
  const p = port === undefined ? 53 : Number(port);
  if (!(p >= 1 && p <= 65535)) return undefined;
  return { host, port: p };
}

/** The `nameserver` addresses of a `resolv.conf` text (the first three, as glibc reads them). */
export function resolvConfUpstreams(text: string): Upstream[] {
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    const u = m ? upstream(m[1] ?? '', undefined) : undefined;
    if (u && out.length < MAX_NAMESERVERS) out.push(u);
  }
  return out;
}

export interface ForwardOptions {
  readonly clock: Clock;
  /** Per server and exchange. */
  readonly timeoutMs: number;
  /** How the asker asked. */
  readonly transport: Transport;
  /** The largest response a UDP asker takes (a longer TCP answer is not sent over UDP). */
  readonly udpLimit: number;
  /** Aborts every exchange (the server is stopping). */
  readonly signal: AbortSignal;
}

/**
 * Asks `upstreams` in turn; resolves the first usable response, its id set back to the
 * query's, or undefined when every server failed (the caller answers SERVFAIL).
 */
export async function forward(query: Buffer, upstreams: readonly Upstream[], options: ForwardOptions): Promise<Buffer | undefined> {
  for (const server of upstreams) {
    if (options.signal.aborted) return undefined;
    let response = options.transport === 'tcp' ? await exchangeTcp(query, server, options) : await exchangeUdp(query, server, options);
    if (response && options.transport === 'udp' && truncated(response)) {
      // The full answer over TCP; sent to a UDP asker only if it fits, else the truncated one
      // goes back and the asker retries over TCP itself.
      const full = await exchangeTcp(query, server, options);
      if (full && usable(full) && full.length <= options.udpLimit) response = full;
    }
    if (response && usable(response)) {
      const out = Buffer.from(response);
      out.writeUInt16BE(query.readUInt16BE(0), 0);
      return out;
    }
  }
  return undefined;
}

function rcodeOf(response: Buffer): number {
  return (response[3] ?? 0) & 0xf;
}

function truncated(response: Buffer): boolean {
  return ((response[2] ?? 0) & 0x02) !== 0;
}

function usable(response: Buffer): boolean {
  const rcode = rcodeOf(response);
  return rcode !== SERVFAIL && rcode !== REFUSED;
}

/** Whether `response` answers a query with `id` (QR set, same id). */
function answers(response: Buffer, id: number): boolean {
  return response.length >= 12 && response.readUInt16BE(0) === id && ((response[2] ?? 0) & 0x80) !== 0;
}

/** `query` with a fresh random id. */
function withFreshId(query: Buffer): { message: Buffer; id: number } {
  const id = randomInt(0, 65536);
  const message = Buffer.from(query);
  message.writeUInt16BE(id, 0);
  return { message, id };
}

/** One UDP exchange with one server: its response, or undefined on timeout or error. */
function exchangeUdp(query: Buffer, server: Upstream, options: ForwardOptions): Promise<Buffer | undefined> {
  const { message, id } = withFreshId(query);
  return new Promise((resolve) => {
    const socket = createSocket(isIPv6(server.host.split('%')[0] ?? '') ? 'udp6' : 'udp4');
    let done = false;
    const finish = (response: Buffer | undefined): void => {
      if (done) return;
      done = true;
      timer.cancel();
      options.signal.removeEventListener('abort', onAbort);
      socket.close();
      resolve(response);
    };
    const onAbort = (): void => finish(undefined);
    const timer = options.clock.setTimer(options.timeoutMs, () => finish(undefined));
    options.signal.addEventListener('abort', onAbort, { once: true });
    // Connected: the kernel passes only the server's datagrams, and a closed port (ICMP
    // unreachable) fails at once (ECONNREFUSED) instead of waiting for the timeout.
    socket.on('error', () => finish(undefined));
    socket.on('message', (msg) => {
      if (answers(msg, id)) finish(msg);
    });
    // A failed connect (no route to the server: ENETUNREACH) calls back with the error and
    // leaves the socket unconnected, where `send(message, cb)` would throw.
    socket.connect(server.port, server.host, (err?: Error) => {
      if (done) return;
      if (err) {
        finish(undefined);
        return;
      }
      try {
        socket.send(message, (sendErr) => {
          if (sendErr) finish(undefined);
        });
      } catch {
        finish(undefined);
      }
    });
  });
}

/** One TCP exchange (2-byte length framing, RFC 1035 §4.2.2): the response, or undefined. */
function exchangeTcp(query: Buffer, server: Upstream, options: ForwardOptions): Promise<Buffer | undefined> {
  const { message, id } = withFreshId(query);
  return new Promise((resolve) => {
    const socket = connect({ host: server.host, port: server.port });
    let done = false;
    let received = Buffer.alloc(0);
    const finish = (response: Buffer | undefined): void => {
      if (done) return;
      done = true;
      timer.cancel();
      options.signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(response);
    };
    const onAbort = (): void => finish(undefined);
    const timer = options.clock.setTimer(options.timeoutMs, () => finish(undefined));
    options.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length, 0);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 2) {
        const length = received.readUInt16BE(0);
        if (received.length < 2 + length) return;
        const response = received.subarray(2, 2 + length);
        received = received.subarray(2 + length);
        if (answers(response, id)) {
          finish(Buffer.from(response));
          return;
        }
      }
    });
  });
}
