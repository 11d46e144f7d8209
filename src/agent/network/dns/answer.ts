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
const QR_BIT = 0x8000;
const OPCODE_BITS = 0x7800;
const HEADER_BYTES = 12;
/** A question is at least a root name (1 byte), type and class. */
const MIN_QUESTION_BYTES = 5;
/** A resource record is at least a root name, type, class, TTL and data length. */
const MIN_RECORD_BYTES = 11;

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
  if (message.length < HEADER_BYTES) return { kind: 'drop' };
  const flags = message.readUInt16BE(2);
  if (flags & QR_BIT) return { kind: 'drop' }; // a response sent to us: never answer one (no loops)
  const questions = message.readUInt16BE(4);
  const records = message.readUInt16BE(6) + message.readUInt16BE(8) + message.readUInt16BE(10);
  // dns-packet allocates an array per section as long as the header's count says, before
  // reading a byte of it: a 12-byte datagram claiming 4 × 65,535 records would cost
  // milliseconds. Counts the message cannot hold mean it is not DNS.
  if (HEADER_BYTES + questions * MIN_QUESTION_BYTES + records * MIN_RECORD_BYTES > message.length) return { kind: 'drop' };
  const id = message.readUInt16BE(0);
  if (flags & OPCODE_BITS) return { kind: 'answer', response: headerOnly(id, flags, NOTIMP) };
  if (questions !== 1) return { kind: 'answer', response: headerOnly(id, flags, FORMERR) };
  let query: packet.DecodedPacket;
  try {
    query = packet.decode(message);
  } catch {
    return { kind: 'drop' };
  }
  const question = query.questions?.[0];
  if (!question || typeof question.name !== 'string') return { kind: 'answer', response: headerOnly(id, flags, FORMERR) };
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

/** A response of only a header (no question): for queries we do not read further. */
function headerOnly(id: number, queryFlags: number, rcode: number): Buffer {
  const flags = (queryFlags & (COPIED_FLAGS | OPCODE_BITS)) | packet.RECURSION_AVAILABLE | rcode;
  return packet.encode({ type: 'response', id, flags, questions: [], answers: [] });
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
