import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import * as packet from 'dns-packet';
import type { MapService, NetworkMap } from '../../../api/network.ts';
import { systemClock } from '../../../lib/clock.ts';
import { FakeClock } from '../../../testing/fake-clock.ts';
import { silentLogger } from '../../../lib/logger.ts';
import { dnsQuery, frame, freeDnsPort, queryMessage, type DnsResponse } from '../../../testing/dns-client.ts';
import { agentDns, DnsServer, type DnsServerDeps, type DnsServerOptions } from './server.ts';
import { dnsTable } from './names.ts';

const FRONT = 'net-front';
const BACK = 'net-back';
/** The gateways the server answers on (any 127.0.0.x is a local address on Linux). */
const FRONT_GW = '127.0.0.2';
const BACK_GW = '127.0.0.3';
/** Task sources: on front only; on back and front; not a task. */
const FRONT_TASK = '127.0.0.10';
const BOTH_TASK = '127.0.0.11';
const STRANGER = '127.0.0.12';
const UPSTREAM = '127.0.0.53';

function service(over: Partial<MapService> & Pick<MapService, 'id' | 'name'>): MapService {
  return { mode: 'vip', networks: [], virtualIps: [], ingressPorts: [], endpoints: [], ...over };
}

function endpoints(n: number, networkId: string, third: number): MapService['endpoints'] {
  return Array.from({ length: n }, (_, i) => ({
    taskId: `t${third}x${i}`,
    nodeId: 'n1',
    slot: i + 1,
    addresses: [{ networkId, addr: `10.${third}.${1 + Math.floor(i / 250)}.${2 + (i % 250)}/16` }],
  }));
}

function sampleMap(): NetworkMap {
  return {
    revision: 1,
    networks: [],
    services: [
      service({
        id: 's-web',
        name: 'web',
        networks: [
          { networkId: FRONT, name: 'front', aliases: ['www'] },
          { networkId: BACK, name: 'back', aliases: [] },
        ],
        virtualIps: [
          { networkId: FRONT, addr: '10.1.0.2/16' },
          { networkId: BACK, addr: '10.2.0.2/16' },
        ],
        endpoints: [
          { taskId: 'wt1', nodeId: 'n1', slot: 1, addresses: [{ networkId: FRONT, addr: '10.1.1.2/16' }, { networkId: BACK, addr: '10.2.1.2/16' }] },
          { taskId: 'wt2', nodeId: 'n1', slot: 2, addresses: [{ networkId: FRONT, addr: '10.1.1.3/16' }, { networkId: BACK, addr: '10.2.1.3/16' }] },
        ],
      }),
      service({
        id: 's-db',
        name: 'db',
        mode: 'dnsrr',
        networks: [{ networkId: BACK, name: 'back', aliases: ['database'] }],
        endpoints: [
          { taskId: 'dt1', nodeId: 'n1', slot: 1, addresses: [{ networkId: BACK, addr: '10.2.1.4/16' }] },
          { taskId: 'dt2', nodeId: 'n1', slot: 2, addresses: [{ networkId: BACK, addr: '10.2.1.5/16' }] },
        ],
      }),
      service({ id: 's-many', name: 'many', mode: 'dnsrr', networks: [{ networkId: FRONT, name: 'front', aliases: [] }], endpoints: endpoints(100, FRONT, 1) }),
    ],
  };
}

const listen = [
  { address: FRONT_GW, networkId: FRONT },
  { address: BACK_GW, networkId: BACK },
];

const scopes = new Map<string, readonly string[]>([
  [FRONT_TASK, [FRONT]],
  [BOTH_TASK, [BACK, FRONT]],
]);

/**
 * A fake upstream resolver on UDP and TCP: `example.com` has an address; `big.example` comes
 * truncated over UDP and whole over TCP; `fail.example` is SERVFAIL; `silent.example` is never
 * answered; everything else is NXDOMAIN. It counts what it was asked, by transport.
 */
class FakeUpstream {
  readonly asked: { transport: 'udp' | 'tcp'; name: string }[] = [];
  /** Fires `asked` when `silent.example` is asked. */
  readonly silentQueries = new EventTarget();
  readonly address: string;
  readonly port: number;
  udp!: UdpSocket;
  tcp!: Server;
  readonly connections = new Set<Socket>();

  constructor(address: string, port: number) {
    this.address = address;
    this.port = port;
  }

  async start(): Promise<void> {
    this.udp = createSocket('udp4');
    this.udp.on('message', (msg, rinfo) => {
      const response = this.#answer(msg, 'udp');
      if (response) this.udp.send(response, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => this.udp.bind({ address: this.address, port: this.port }, r));
    this.tcp = createServer((socket) => {
      this.connections.add(socket);
      socket.on('close', () => this.connections.delete(socket));
      socket.on('error', () => {});
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
          const msg = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
          buffered = buffered.subarray(2 + msg.length);
          const response = this.#answer(msg, 'tcp');
          if (response) socket.write(frame(response));
        }
      });
    });
    await new Promise<void>((r) => this.tcp.listen({ host: this.address, port: this.port }, r));
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.destroy();
    await Promise.all([new Promise<void>((r) => this.udp.close(() => r())), new Promise<void>((r) => this.tcp.close(() => r()))]);
  }

  #answer(msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    const query = packet.decode(msg);
    const q = query.questions?.[0];
    if (!q) return undefined;
    this.asked.push({ transport, name: q.name });
    const reply = (rcode: number, answers: packet.Answer[], extraFlags = 0): Buffer =>
      packet.encode({ type: 'response', id: query.id ?? 0, flags: packet.RECURSION_AVAILABLE | extraFlags | rcode, questions: [q], answers });
    switch (q.name) {
      case 'example.com':
        return reply(0, [{ type: 'A', name: q.name, ttl: 60, data: '93.184.216.34' }]);
      case 'big.example':
        if (transport === 'udp') return reply(0, [], packet.TRUNCATED_RESPONSE);
        return reply(0, ['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((data) => ({ type: 'A' as const, name: q.name, ttl: 60, data })));
      case 'fail.example':
        return reply(2, []);
      case 'silent.example':
        this.silentQueries.dispatchEvent(new Event('asked'));
        return undefined;
      default:
        return reply(3, []);
    }
  }
}

/** The A and PTR records of a response. */
function records(r: DnsResponse): packet.StringAnswer[] {
  return (r.answers ?? []).filter((a): a is packet.StringAnswer => a.type === 'A' || a.type === 'PTR');
}

function addresses(r: DnsResponse): string[] {
  return records(r)
    .filter((a) => a.type === 'A')
    .map((a) => a.data);
}

/** A port where nothing listens (bound, then released). */
async function closedPort(address: string): Promise<number> {
  return freeDnsPort([address]);
}

void describe('DnsServer over loopback', () => {
  let port: number;
  let upstream: FakeUpstream;
  let server: DnsServer;

  before(async () => {
    port = await freeDnsPort([FRONT_GW, BACK_GW, '127.0.0.4']);
    upstream = new FakeUpstream(UPSTREAM, await freeDnsPort([UPSTREAM]));
    await upstream.start();
  });
  after(async () => {
    await upstream.stop();
  });

  async function startServer(deps: Partial<DnsServerDeps> = {}, options: DnsServerOptions = {}): Promise<DnsServer> {
    const s = new DnsServer(
      {
        clock: systemClock,
        logger: silentLogger,
        scope: (ip) => scopes.get(ip),
        upstreams: [`${UPSTREAM}:${upstream.port}`],
        ...deps,
      },
      { port, ...options },
    );
    await s.start();
    await s.update(dnsTable(sampleMap()), listen);
    return s;
  }

  beforeEach(async () => {
    upstream.asked.length = 0;
    server = await startServer();
  });
  afterEach(async () => {
    await server.stop();
  });

  const ask = (name: string, over: Partial<Parameters<typeof dnsQuery>[0]> = {}): Promise<DnsResponse> =>
    dnsQuery({ server: FRONT_GW, port, name, source: FRONT_TASK, ...over });

  void it('answers a vip service with its VIP, TTL 5 s, authoritative', async () => {
    const r = await ask('web');
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.flag_aa, true);
    assert.equal(r.flag_qr, true);
    assert.deepEqual(addresses(r), ['10.1.0.2']);
    assert.equal(records(r)[0]?.ttl, 5);
    assert.equal(r.questions?.[0]?.name, 'web');
  });

  void it('answers aliases, tasks. names and task names, TTL 1 s, case kept as asked', async () => {
    assert.deepEqual(addresses(await ask('www')), ['10.1.0.2']);
    const tasks = await ask('Tasks.WWW.');
    assert.deepEqual(addresses(tasks).sort(), ['10.1.1.2', '10.1.1.3']);
    assert.ok(records(tasks).every((a) => a.ttl === 1 && a.name === 'Tasks.WWW'));
    assert.deepEqual(addresses(await ask('web.2.wt2')), ['10.1.1.3']);
  });

  void it('answers a dnsrr service with its tasks, in random order', async () => {
    const r = await ask('database', { server: BACK_GW, source: BOTH_TASK });
    assert.deepEqual(addresses(r).sort(), ['10.2.1.4', '10.2.1.5']);
    const orders = new Set<string>();
    for (let i = 0; i < 40 && orders.size < 2; i++) orders.add(addresses(await ask('db', { server: BACK_GW, source: BOTH_TASK })).join());
    assert.equal(orders.size, 2, 'both orders seen');
  });

  void it('answers AAAA and other types of an owned name with NOERROR and no records (NODATA)', async () => {
    for (const type of ['AAAA', 'MX', 'TXT'] as const) {
      const r = await ask('web', { type });
      assert.equal(r.rcode, 'NOERROR', type);
      assert.equal(r.answers?.length, 0, type);
    }
    assert.equal(upstream.asked.length, 0, 'nothing forwarded');
  });

  void it('answers PTR for VIPs and task addresses', async () => {
    const vip = await ask('2.0.1.10.in-addr.arpa', { type: 'PTR' });
    assert.deepEqual(records(vip).map((a) => [a.type, a.data, a.ttl]), [['PTR', 'web', 5]]);
    const task = await ask('3.1.1.10.in-addr.arpa', { type: 'PTR' });
    assert.deepEqual(records(task).map((a) => [a.type, a.data, a.ttl]), [['PTR', 'web.2.wt2', 1]]);
  });

  void it('scopes answers to the asking task’s networks, the arrival network first', async () => {
    // On front only: db (back) is not ours to answer, even asked on back's gateway.
    const hidden = await ask('db', { server: BACK_GW, source: FRONT_TASK });
    assert.equal(hidden.rcode, 'NXDOMAIN');
    assert.deepEqual(upstream.asked, [{ transport: 'udp', name: 'db' }]);
    // Reverse names of other networks are not answered either.
    assert.equal((await ask('4.1.2.10.in-addr.arpa', { type: 'PTR', source: FRONT_TASK })).rcode, 'NXDOMAIN');
    // On both: asked on front's gateway, front's VIP; on back's, back's.
    assert.deepEqual(addresses(await ask('web', { server: FRONT_GW, source: BOTH_TASK })), ['10.1.0.2']);
    assert.deepEqual(addresses(await ask('web', { server: BACK_GW, source: BOTH_TASK })), ['10.2.0.2']);
    assert.deepEqual(addresses(await ask('db', { server: FRONT_GW, source: BOTH_TASK })).sort(), ['10.2.1.4', '10.2.1.5']);
    // Unknown source: the network of the gateway it asked.
    assert.deepEqual(addresses(await ask('web', { server: BACK_GW, source: STRANGER })), ['10.2.0.2']);
    assert.deepEqual(addresses(await ask('db', { server: BACK_GW, source: STRANGER })).sort(), ['10.2.1.4', '10.2.1.5']);
    assert.equal((await ask('db', { server: FRONT_GW, source: STRANGER })).rcode, 'NXDOMAIN');
  });

  void it('answers over TCP, with every record', async () => {
    const r = await ask('many', { transport: 'tcp' });
    assert.equal(r.flag_tc, false);
    assert.equal(addresses(r).length, 100);
    assert.deepEqual(addresses(await ask('web', { transport: 'tcp', source: BOTH_TASK, server: BACK_GW })), ['10.2.0.2']);
  });

  void it('cuts a UDP answer to the asker’s size and marks it truncated', async () => {
    const plain = await ask('many');
    assert.equal(plain.flag_tc, true);
    assert.ok(addresses(plain).length > 0 && addresses(plain).length < 100);
    assert.ok(packet.encodingLength(plain) <= 512);
    const edns = await ask('many', { edns: 4096 });
    assert.equal(edns.flag_tc, true);
    assert.ok(addresses(edns).length > addresses(plain).length);
    assert.ok(packet.encodingLength(edns) <= 1232);
  });

  void it('forwards other names upstream, UDP', async () => {
    const r = await ask('example.com');
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(addresses(r), ['93.184.216.34']);
    assert.equal((await ask('nowhere.example')).rcode, 'NXDOMAIN');
    assert.deepEqual(upstream.asked, [
      { transport: 'udp', name: 'example.com' },
      { transport: 'udp', name: 'nowhere.example' },
    ]);
    assert.equal(server.stats.forwarded, 2);
  });

  void it('retries a truncated upstream answer over TCP', async () => {
    const r = await ask('big.example');
    assert.equal(r.flag_tc, false);
    assert.deepEqual(addresses(r), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
    assert.deepEqual(upstream.asked, [
      { transport: 'udp', name: 'big.example' },
      { transport: 'tcp', name: 'big.example' },
    ]);
  });

  void it('forwards TCP queries over TCP', async () => {
    const r = await ask('example.com', { transport: 'tcp' });
    assert.deepEqual(addresses(r), ['93.184.216.34']);
    assert.deepEqual(upstream.asked, [{ transport: 'tcp', name: 'example.com' }]);
  });

  void it('moves on to the next upstream past SERVFAIL and a dead server', async () => {
    const dead = await closedPort(UPSTREAM);
    const s = await startServer({ upstreams: [`127.0.0.1:${dead}`, `${UPSTREAM}:${upstream.port}`] }, { port: await freeDnsPort([FRONT_GW, BACK_GW]) });
    try {
      const r = await dnsQuery({ server: FRONT_GW, port: s.port, name: 'example.com', source: FRONT_TASK });
      assert.deepEqual(addresses(r), ['93.184.216.34']);
      // SERVFAIL from every server: SERVFAIL to the asker.
      const f = await dnsQuery({ server: FRONT_GW, port: s.port, name: 'fail.example', source: FRONT_TASK });
      assert.equal(f.rcode, 'SERVFAIL');
    } finally {
      await s.stop();
    }
  });

  void it('answers SERVFAIL when the upstream is down', async () => {
    const s = await startServer({ upstreams: [`127.0.0.1:${await closedPort('127.0.0.1')}`] }, { port: await freeDnsPort([FRONT_GW, BACK_GW]) });
    try {
      const udp = await dnsQuery({ server: FRONT_GW, port: s.port, name: 'example.com', source: FRONT_TASK });
      assert.equal(udp.rcode, 'SERVFAIL');
      assert.equal(udp.questions?.[0]?.name, 'example.com');
      const tcp = await dnsQuery({ server: FRONT_GW, port: s.port, name: 'example.com', source: FRONT_TASK, transport: 'tcp' });
      assert.equal(tcp.rcode, 'SERVFAIL');
      // Owned names still answer.
      assert.deepEqual(addresses(await dnsQuery({ server: FRONT_GW, port: s.port, name: 'web', source: FRONT_TASK })), ['10.1.0.2']);
      assert.equal(s.stats.failed, 2);
    } finally {
      await s.stop();
    }
  });

  void it('skips an upstream it cannot even connect to (no route), without crashing', async () => {
    // A link-local server without a scope: connect fails at once (EINVAL), as an unroutable one
    // fails with ENETUNREACH inside a network namespace without a default route.
    const s = await startServer({ upstreams: ['[fe80::1]:53'] }, { port: await freeDnsPort([FRONT_GW, BACK_GW]) });
    try {
      const r = await dnsQuery({ server: FRONT_GW, port: s.port, name: 'example.com', source: FRONT_TASK });
      assert.equal(r.rcode, 'SERVFAIL');
      assert.deepEqual(addresses(await dnsQuery({ server: FRONT_GW, port: s.port, name: 'web', source: FRONT_TASK })), ['10.1.0.2'], 'still answering');
    } finally {
      await s.stop();
    }
  });

  void it('answers SERVFAIL past the bound on forwards in flight', async () => {
    const s = await startServer({}, { port: await freeDnsPort([FRONT_GW, BACK_GW]), maxForwards: 1 });
    try {
      const asked = once(upstream.silentQueries, 'asked');
      const pending = dnsQuery({ server: FRONT_GW, port: s.port, name: 'silent.example', source: FRONT_TASK, guardMs: 100 }).catch(() => undefined);
      await asked;
      const r = await dnsQuery({ server: FRONT_GW, port: s.port, name: 'example.com', source: FRONT_TASK });
      assert.equal(r.rcode, 'SERVFAIL');
      await s.stop(); // abandons the silent one
      await pending;
    } finally {
      await s.stop();
    }
  });

  void it('gives up on a silent upstream after its timeout (2 s by default)', async () => {
    const clock = new FakeClock();
    const s = await startServer({ clock }, { port: await freeDnsPort([FRONT_GW, BACK_GW]) });
    try {
      const asked = once(upstream.silentQueries, 'asked');
      const answer = dnsQuery({ server: FRONT_GW, port: s.port, name: 'silent.example', source: FRONT_TASK });
      await asked;
      await clock.advance(1999);
      assert.equal(s.stats.failed, 0);
      await clock.advance(1);
      assert.equal((await answer).rcode, 'SERVFAIL');
    } finally {
      await s.stop();
    }
  });

  void it('drops garbage and keeps answering (UDP and TCP)', async () => {
    const client = createSocket('udp4');
    await new Promise<void>((r) => client.bind({ address: FRONT_TASK, port: 0 }, r));
    for (const junk of [Buffer.from('not dns at all'), Buffer.alloc(3), Buffer.from([0, 1, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 9])]) {
      await new Promise<void>((r) => client.send(junk, port, FRONT_GW, () => r()));
    }
    // A response sent to the server is dropped too (never answered: no loops).
    const response = packet.encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'web' }], answers: [] });
    await new Promise<void>((r) => client.send(response, port, FRONT_GW, () => r()));
    client.close();
    assert.deepEqual(addresses(await ask('web')), ['10.1.0.2']);
    assert.equal(server.stats.dropped, 4);

    const tcp = connect({ host: FRONT_GW, port, localAddress: FRONT_TASK });
    await once(tcp, 'connect');
    tcp.write(Buffer.from([0, 5, 1, 2, 3, 4, 5]));
    await once(tcp, 'close');
    const tcp2 = connect({ host: FRONT_GW, port, localAddress: FRONT_TASK });
    await once(tcp2, 'connect');
    tcp2.write(frame(Buffer.from('0123456789abcdefghij')));
    await once(tcp2, 'close');
    assert.deepEqual(addresses(await ask('web', { transport: 'tcp' })), ['10.1.0.2']);
  });

  void it('answers several queries on one TCP connection, and after the asker half-closes', async () => {
    const tcp = connect({ host: FRONT_GW, port, localAddress: FRONT_TASK });
    await once(tcp, 'connect');
    tcp.end(Buffer.concat([frame(queryMessage('web')), frame(queryMessage('example.com'))]));
    const chunks: Buffer[] = [];
    tcp.on('data', (c: Buffer) => chunks.push(c));
    await once(tcp, 'close');
    const all = Buffer.concat(chunks);
    const first = all.subarray(2, 2 + all.readUInt16BE(0));
    const rest = all.subarray(2 + first.length);
    const second = rest.subarray(2, 2 + rest.readUInt16BE(0));
    const names = [packet.decode(first), packet.decode(second)].map((p) => [p.questions?.[0]?.name, (p.answers?.[0] as packet.StringAnswer | undefined)?.data]);
    assert.deepEqual(names.sort(), [
      ['example.com', '93.184.216.34'],
      ['web', '10.1.0.2'],
    ]);
  });

  void it('answers a new table at once', async () => {
    assert.deepEqual(addresses(await ask('web')), ['10.1.0.2']);
    const map = sampleMap();
    map.services = map.services.filter((s) => s.name !== 'web');
    map.services.push(service({ id: 's-web2', name: 'web', networks: [{ networkId: FRONT, name: 'front', aliases: [] }], virtualIps: [{ networkId: FRONT, addr: '10.1.0.7/16' }] }));
    const swapped = server.update(dnsTable(map), listen);
    assert.deepEqual(addresses(await ask('web')), ['10.1.0.7']);
    await swapped;
    assert.equal((await ask('www')).rcode, 'NXDOMAIN');
  });

  void it('binds new addresses and unbinds those no longer listed', async () => {
    const third = { address: '127.0.0.4', networkId: FRONT };
    await server.update(dnsTable(sampleMap()), [listen[0]!, third]);
    assert.deepEqual([...server.listening].sort(), [FRONT_GW, '127.0.0.4']);
    assert.deepEqual(addresses(await ask('web', { server: '127.0.0.4' })), ['10.1.0.2']);
    const refused = connect({ host: BACK_GW, port, localAddress: FRONT_TASK });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  });

  void it('serves the data plane through agentDns (gateways with or without a prefix)', async () => {
    const dns = agentDns(server);
    await dns.update(sampleMap(), [{ id: BACK, gateway: `${BACK_GW}/24` }]);
    assert.deepEqual(server.listening, [BACK_GW]);
    assert.deepEqual(addresses(await ask('web', { server: BACK_GW, source: STRANGER })), ['10.2.0.2']);
  });

  void it('retries an address it could not bind, and never forwards to itself', async () => {
    const blocker = createSocket('udp4');
    const blocked = '127.0.0.5';
    const p = await freeDnsPort([blocked]);
    await new Promise<void>((r) => blocker.bind({ address: blocked, port: p }, r));
    const clock = new FakeClock();
    const s = new DnsServer({ clock, logger: silentLogger, upstreams: [`${blocked}:${p}`] }, { port: p, rebindMs: 1000 });
    try {
      await s.start();
      await s.update(dnsTable(sampleMap()), [{ address: blocked, networkId: FRONT }]);
      assert.deepEqual(s.listening, []);
      await clock.advance(1000);
      await s.settled();
      assert.deepEqual(s.listening, [], 'still taken');
      await new Promise<void>((r) => blocker.close(r));
      await clock.advance(1000);
      await s.settled();
      assert.deepEqual(s.listening, [blocked]);
      // Its only upstream is itself: SERVFAIL, not a loop.
      const r = await dnsQuery({ server: blocked, port: p, name: 'example.com' });
      assert.equal(r.rcode, 'SERVFAIL');
    } finally {
      await s.stop();
    }
  });

  void it('reads the host resolvers from resolv.conf at start and on every update', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-dns-'));
    const file = join(dir, 'resolv.conf');
    writeFileSync(file, 'search example.org\nnameserver 192.0.2.53\n');
    const s = new DnsServer({ clock: systemClock, logger: silentLogger }, { port: await freeDnsPort([FRONT_GW]), resolvConf: file });
    try {
      await s.start();
      assert.deepEqual(s.upstreams, [{ host: '192.0.2.53', port: 53 }]);
      writeFileSync(file, 'nameserver 192.0.2.1\nnameserver 192.0.2.2\n');
      await s.update(dnsTable(sampleMap()), [listen[0]!]);
      assert.deepEqual(s.upstreams, [
        { host: '192.0.2.1', port: 53 },
        { host: '192.0.2.2', port: 53 },
      ]);
      rmSync(file);
      await s.update(dnsTable(sampleMap()), [listen[0]!]);
      assert.equal(s.upstreams.length, 2, 'an unreadable file keeps the ones before');
    } finally {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('stops cleanly, twice', async () => {
    await server.stop();
    await server.stop();
    assert.deepEqual(server.listening, []);
    // Both ports are free again.
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind({ address: FRONT_GW, port, exclusive: true }, r));
    await new Promise<void>((r) => udp.close(r));
    const refused = connect({ host: FRONT_GW, port, localAddress: FRONT_TASK });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
  });
});
