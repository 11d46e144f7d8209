import * as packet from 'dns-packet';
import { lookup, lookupPointer, reverseAddress, type DnsTable } from './names.ts';

/**
 * What the DNS server does with one query (pure): answer it from the table, hand it to the
 * upstream servers, or drop it. The server does the I/O.
 */

/** Response codes (RFC 1035 §4.1.1). */
export const NOERROR = 0;
export const FORMERR = 1;
export const SERVFAIL = 2;
export const NXDOMAIN = 3;
export const NOTIMP = 4;
export const REFUSED = 5;

/** The UDP payload size a client without EDNS accepts (RFC 1035). */
export const PLAIN_UDP_SIZE = 512;
/**
 * The most we send over UDP, and the size we advertise back to EDNS clients: 1232, the size
 * DNS Flag Day 2020 settled on (fits the IPv6 minimum MTU, so no fragments on the overlay).
 */
export const EDNS_UDP_SIZE = 1232;

/** Carried over from query to response (RFC 1035: RD is copied; CD per RFC 4035). */
const COPIED_FLAGS = packet.RECURSION_DESIRED | packet.CHECKING_DISABLED;

export type Transport = 'udp' | 'tcp';

export type Decision =
  /** Send `response` back. */
  | { readonly kind: 'answer'; readonly response: Buffer }
  /** Not ours: forward the query; a UDP answer may be at most `udpLimit` bytes. */
  | { readonly kind: 'forward'; readonly query: packet.DecodedPacket; readonly udpLimit: number }
  /** Not a query we can read, or not a query at all: send nothing. */
  | { readonly kind: 'drop' };

export interface DecideInput {
  readonly table: DnsTable;
  /** The asker's networks, the one to look in first first. */
  readonly networkIds: readonly string[];
  readonly transport: Transport;
  /** Random number in [0, 1), for the order of A records. */
  readonly random: () => number;
}

/**
 * Reads a query and decides. Names owned on one of the asker's networks are answered: A with
 * the addresses (in random order), any other type with NOERROR and no records (NODATA: musl
 * asks A and AAAA at once and fails the lookup on an NXDOMAIN for AAAA); PTR of a VIP or task
 * address with its name. Everything else is forwarded — including names other networks own,
 * which the asker must not see.
 */
export function decide(message: Buffer, input: DecideInput): Decision {
  let query: packet.DecodedPacket;
  try {
    query = packet.decode(message);
  } catch {
    return { kind: 'drop' };
  }
  if (query.flag_qr) return { kind: 'drop' }; // a response sent to us: never answer one (no loops)
  const opcode = (message.readUInt16BE(2) >> 11) & 0xf;
  if (opcode !== 0) return { kind: 'answer', response: respond(query, NOTIMP, [], input.transport) };
  const question = query.questions?.[0];
  if (query.questions?.length !== 1 || !question || typeof question.name !== 'string') {
    return { kind: 'answer', response: respond(query, FORMERR, [], input.transport) };
  }
  const inClass = question.class === undefined || question.class === 'IN' || question.class === 'ANY';
  if (inClass) {
    if (question.type === 'PTR') {
      const address = reverseAddress(question.name);
      const pointer = address === undefined ? undefined : lookupPointer(input.table, address, input.networkIds);
      if (pointer) {
        const answer: packet.Answer = { type: 'PTR', name: question.name, ttl: pointer.ttl, data: pointer.name };
        return { kind: 'answer', response: respond(query, NOERROR, [answer], input.transport) };
      }
    }
    const record = lookup(input.table, question.name, input.networkIds);
    if (record) {
      const answers: packet.Answer[] = [];
      if (question.type === 'A' || (question.type as string) === 'ANY') {
        for (const address of shuffled(record.addresses, input.random)) {
          answers.push({ type: 'A', name: question.name, ttl: record.ttl, data: address });
        }
      }
      return { kind: 'answer', response: respond(query, NOERROR, answers, input.transport) };
    }
  }
  return { kind: 'forward', query, udpLimit: udpLimit(query) };
}

/** A response to `query` with `rcode` and no records (SERVFAIL when forwarding failed). */
export function failure(query: packet.DecodedPacket, rcode: number, transport: Transport): Buffer {
  return respond(query, rcode, [], transport);
}

/** The largest UDP response the asker takes: 512, or its EDNS size (at most `EDNS_UDP_SIZE`). */
export function udpLimit(query: packet.Packet): number {
  const opt = ednsOf(query);
  if (!opt) return PLAIN_UDP_SIZE;
  return Math.max(PLAIN_UDP_SIZE, Math.min(EDNS_UDP_SIZE, opt.udpPayloadSize || PLAIN_UDP_SIZE));
}

function ednsOf(query: packet.Packet): packet.OptAnswer | undefined {
  return query.additionals?.find((a): a is packet.OptAnswer => a.type === 'OPT');
}

/**
 * Encodes a response. Over UDP, answers that do not fit the asker's size are cut and the
 * response is marked truncated (TC), so a client that can retries over TCP (Docker's resolver
 * does the same); the kept records are a random subset, since the order was shuffled.
 */
function respond(query: packet.DecodedPacket, rcode: number, answers: packet.Answer[], transport: Transport): Buffer {
  const flags = (query.flags ?? 0) & COPIED_FLAGS;
  const response: packet.Packet = {
    type: 'response',
    id: query.id ?? 0,
    flags: flags | packet.AUTHORITATIVE_ANSWER | packet.RECURSION_AVAILABLE | rcode,
    questions: query.questions?.slice(0, 1) ?? [],
    answers,
    additionals: ednsOf(query) ? [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] : [],
  };
  const bytes = packet.encode(response);
  const limit = udpLimit(query);
  if (transport === 'tcp' || bytes.length <= limit || answers.length === 0) return bytes;
  // Every answer is the same size here (same name, one type): keep as many as fit.
  const per = (bytes.length - packet.encodingLength({ ...response, answers: [] })) / answers.length;
  const keep = Math.max(0, Math.floor((answers.length * per - (bytes.length - limit)) / per));
  return packet.encode({ ...response, flags: (response.flags ?? 0) | packet.TRUNCATED_RESPONSE, answers: answers.slice(0, keep) });
}

/** A copy of `items` in random order (Fisher–Yates). */
function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = out[i] as T;
    out[i] = out[j] as T;
    out[j] = t;
  }
  return out;
}
