import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as packet from 'dns-packet';
import { decide, type DecideInput } from './answer.ts';
import { resolvConfUpstreams, parseUpstream } from './forward.ts';
import type { DnsTable } from './names.ts';

const table: DnsTable = {
  networks: new Map([
    [
      'n1',
      {
        names: new Map([
          ['web', { addresses: ['10.1.0.2'], ttl: 5 }],
          ['tasks.web', { addresses: Array.from({ length: 60 }, (_, i) => `10.1.1.${i + 2}`), ttl: 1 }],
        ]),
        pointers: new Map([['10.1.0.2', { name: 'web', ttl: 5 }]]),
      },
    ],
  ]),
};

const input = (over: Partial<DecideInput> = {}): DecideInput => ({ table, networkIds: ['n1'], transport: 'udp', random: () => 0.5, ...over });

function query(over: packet.Packet = {}): Buffer {
  return packet.encode({ type: 'query', id: 42, flags: packet.RECURSION_DESIRED, questions: [{ type: 'A', name: 'web', class: 'IN' }], ...over });
}

function answered(message: Buffer, over: Partial<DecideInput> = {}): packet.DecodedPacket & { rcode: string; opcode: string } {
  const d = decide(message, input(over));
  assert.equal(d.kind, 'answer');
  return packet.decode(d.response) as packet.DecodedPacket & { rcode: string; opcode: string };
}

void describe('decide', () => {
  void it('answers an owned name with the query’s id, question and RD, plus AA and RA', () => {
    const r = answered(query());
    assert.equal(r.id, 42);
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual([r.flag_qr, r.flag_aa, r.flag_rd, r.flag_ra, r.flag_tc], [true, true, true, true, false]);
    assert.deepEqual(r.questions, [{ type: 'A', name: 'web', class: 'IN' }]);
    assert.deepEqual(r.answers, [{ type: 'A', name: 'web', class: 'IN', ttl: 5, flush: false, data: '10.1.0.2' }]);
  });

  void it('answers ANY of an owned name with its A records', () => {
    const r = answered(query({ questions: [{ type: 'ANY' as packet.RecordType, name: 'web', class: 'IN' }] }));
    assert.equal(r.answers?.length, 1);
  });

  void it('forwards names it does not own, other classes, and reverse names it does not know', () => {
    for (const q of [
      { type: 'A', name: 'example.com', class: 'IN' },
      { type: 'TXT', name: 'web', class: 'CH' },
      { type: 'PTR', name: '9.0.1.10.in-addr.arpa', class: 'IN' },
    ] as packet.Question[]) {
      assert.equal(decide(query({ questions: [q] }), input()).kind, 'forward', q.name);
    }
    assert.equal(decide(query(), input({ networkIds: ['n2'] })).kind, 'forward');
  });

  void it('drops what it cannot read and responses', () => {
    assert.equal(decide(Buffer.from('garbage'), input()).kind, 'drop');
    assert.equal(decide(Buffer.alloc(0), input()).kind, 'drop');
    assert.equal(decide(query({ type: 'response' }), input()).kind, 'drop');
    // Counts the message cannot hold: dropped before dns-packet allocates arrays that long.
    const liar = Buffer.from([0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    assert.equal(decide(liar, input()).kind, 'drop');
    const extra = query();
    extra.writeUInt16BE(3, 10); // three additional records announced, none there
    assert.equal(decide(extra, input()).kind, 'drop');
  });

  void it('refuses other opcodes (NOTIMP) and a query without one question (FORMERR)', () => {
    const notify = query();
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    const notimp = answered(notify);
    assert.equal(notimp.rcode, 'NOTIMP');
    assert.equal(notimp.opcode, 'NOTIFY');
    assert.equal(notimp.id, 42);
    assert.equal(answered(query({ questions: [] })).rcode, 'FORMERR');
    const two = query({ questions: [{ type: 'A', name: 'web' }, { type: 'A', name: 'web' }] });
    assert.equal(answered(two).rcode, 'FORMERR');
  });

  void it('echoes EDNS and keeps a UDP answer within the asker’s size; TCP gets every record', () => {
    const plain = decide(query({ questions: [{ type: 'A', name: 'tasks.web' }] }), input());
    assert.ok(plain.kind === 'answer' && plain.response.length <= 512);
    const edns = query({
      questions: [{ type: 'A', name: 'tasks.web' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    });
    const big = answered(edns);
    assert.equal(big.flag_tc, true);
    assert.ok(packet.encodingLength(big) <= 1232);
    assert.equal((big.additionals?.[0] as packet.OptAnswer).udpPayloadSize, 1232);
    const tcp = answered(edns, { transport: 'tcp' });
    assert.equal(tcp.flag_tc, false);
    assert.equal(tcp.answers?.length, 60);
  });
});

void describe('upstreams', () => {
  void it('reads nameserver lines, at most three', () => {
    const text = '# comment\nsearch example.org\nnameserver 10.0.0.1\nnameserver ::1\n nameserver 10.0.0.3 \nnameserver bogus\nnameserver 10.0.0.4\n';
    assert.deepEqual(resolvConfUpstreams(text), [
      { host: '10.0.0.1', port: 53 },
      { host: '::1', port: 53 },
      { host: '10.0.0.3', port: 53 },
    ]);
    assert.deepEqual(resolvConfUpstreams(''), []);
  });

  void it('parses an address with or without a port', () => {
    assert.deepEqual(parseUpstream('1.2.3.4'), { host: '1.2.3.4', port: 53 });
    assert.deepEqual(parseUpstream('1.2.3.4:5353'), { host: '1.2.3.4', port: 5353 });
    assert.deepEqual(parseUpstream('[::1]:5353'), { host: '::1', port: 5353 });
    assert.deepEqual(parseUpstream('fe80::1%eth0'), { host: 'fe80::1%eth0', port: 53 });
    assert.equal(parseUpstream('dns.example'), undefined);
    assert.equal(parseUpstream('1.2.3.4:0'), undefined);
    assert.equal(parseUpstream('1.2.3.4:70000'), undefined);
  });
});
