import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import * as packet from 'dns-packet';
import { freePort } from './free-port.ts';

/**
 * A small DNS client for tests and benchmarks: one query over UDP (from a chosen source
 * address) or TCP, the decoded response back. Waits on the answer, with a generous guard
 * timeout so a lost answer fails the test instead of hanging it.
 */

export interface DnsQueryOptions {
  readonly server: string;
  readonly port: number;
  readonly name: string;
  readonly type?: packet.RecordType;
  readonly transport?: 'udp' | 'tcp';
  /** Source address to send from (any 127.0.0.x works on Linux without setup). */
  readonly source?: string;
  /** Advertise EDNS with this UDP size. */
  readonly edns?: number;
  /** Give up after this long. Default 5 s. */
  readonly guardMs?: number;
}

/** A decoded DNS response (with the fields dns-packet decodes but does not type). */
export type DnsResponse = packet.DecodedPacket & { readonly rcode: string };

let nextId = 1;

export function queryMessage(name: string, type: packet.RecordType = 'A', edns?: number): Buffer {
  nextId = (nextId % 65535) + 1;
  return packet.encode({
    type: 'query',
    id: nextId,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: edns === undefined ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: edns, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
}

export async function dnsQuery(options: DnsQueryOptions): Promise<DnsResponse> {
  const message = queryMessage(options.name, options.type, options.edns);
  const raw = options.transport === 'tcp' ? await exchangeTcp(message, options) : await exchangeUdp(message, options);
  return packet.decode(raw) as DnsResponse;
}

/** Sends `message` over UDP and resolves the first datagram back. */
export function exchangeUdp(message: Buffer, options: Pick<DnsQueryOptions, 'server' | 'port' | 'source' | 'guardMs'>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const guard = setTimeout(() => {
      socket.close();
      reject(new Error(`no DNS answer from ${options.server}:${options.port} within ${options.guardMs ?? 5000} ms`));
    }, options.guardMs ?? 5000);
    socket.on('error', (err) => {
      clearTimeout(guard);
      socket.close();
      reject(err);
    });
    socket.on('message', (msg) => {
      clearTimeout(guard);
      socket.close();
      resolve(msg);
    });
    socket.bind({ address: options.source ?? '127.0.0.1', port: 0 }, () => {
      socket.send(message, options.port, options.server);
    });
  });
}

/** Sends `message` over TCP (length-prefixed) and resolves the first response frame. */
export function exchangeTcp(message: Buffer, options: Pick<DnsQueryOptions, 'server' | 'port' | 'source' | 'guardMs'>): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: options.server, port: options.port, localAddress: options.source ?? '127.0.0.1' });
    let received = Buffer.alloc(0);
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no DNS answer over TCP from ${options.server}:${options.port}`));
    }, options.guardMs ?? 5000);
    socket.on('error', (err) => {
      clearTimeout(guard);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(guard);
      reject(new Error('connection closed before an answer'));
    });
    socket.on('connect', () => socket.write(frame(message)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2) return;
      const length = received.readUInt16BE(0);
      if (received.length < 2 + length) return;
      clearTimeout(guard);
      resolve(received.subarray(2, 2 + length));
      socket.destroy();
    });
  });
}

/** A DNS message with its 2-byte TCP length prefix. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.alloc(2 + message.length);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}

/**
 * A port free for both UDP and TCP on `addresses` right now: servers under test listen there
 * (see `freePorts`: chosen below the ephemeral range, so nothing else takes it meanwhile).
 */
export function freeDnsPort(addresses: readonly string[]): Promise<number> {
  return freePort({ addresses, udp: true });
}
