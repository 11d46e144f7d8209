import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { MapEndpoint, NetworkMap } from '../../api/network.ts';
import { systemClock } from '../../lib/clock.ts';
import { endpoint, mapNetwork, service } from '../../testing/network-map-fixture.ts';
import { kernelBridges } from './bridges.ts';
import { DataPlane } from './data-plane.ts';
import { bridgeName } from './names.ts';
import { nsenterRunner, runCommand, type CommandRunner } from './runner.ts';
import { pollFor as waitFor, sh } from '../../testing/host-commands.ts';

/**
 * The data plane on a real kernel, in throwaway network namespaces (all named `fltdp-*`): a
 * "switch" namespace with a bridge, two "hosts" on it (underlay 10.198.0.11 and .12, `eth0`)
 * each running a `DataPlane` with kernel bridges through `nsenter`, a "probe" (10.198.0.254)
 * outside the overlay, and "tasks": namespaces with veths on a host's bridges, each running a
 * small TCP server that answers its name. Needs root; skipped otherwise.
 */

// With this process's id: a second run on the same machine (a CI beside a local run) keeps to its own.
const PREFIX = `fltdp${process.pid}`;
const ns = (name: string): string => `${PREFIX}-${name}`;
const nsPath = (name: string): string => `/run/netns/${ns(name)}`;
const NODE = process.execPath;

function skipReason(): string | false {
  if (process.getuid?.() !== 0) return 'skipped: the real-kernel data plane test needs root (network namespaces)';
  if (!existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables')) return 'skipped: br_netfilter is not available';
  return false;
}


/** A client run inside namespace `from`: `count` sequential TCP connections, each reading one line. */
const CLIENT = `
const net = require('node:net');
const [host, port, count, timeout] = process.argv.slice(1);
const one = () => new Promise((resolve) => {
  const s = net.connect({ host, port: Number(port) });
  let data = '';
  const done = (v) => { clearTimeout(t); s.destroy(); resolve(v); };
  const t = setTimeout(() => done({ error: 'timeout' }), Number(timeout));
  s.on('data', (d) => { data += d; });
  s.on('end', () => done({ answer: data.trim() }));
  s.on('error', (err) => done({ error: err.code ?? 'error' }));
});
(async () => {
  const answers = {}; const failures = {}; let errors = 0;
  for (let i = 0; i < Number(count); i++) {
    const r = await one();
    if (r.answer === undefined) { errors++; failures[r.error] = (failures[r.error] ?? 0) + 1; }
    else answers[r.answer] = (answers[r.answer] ?? 0) + 1;
  }
  console.log(JSON.stringify({ answers, errors, failures }));
})();`;

/**
 * A UDP client on one socket: sends to host:port every 50 ms; prints the first answer, then
 * `moved to X` after 5 answers in a row from another endpoint X, or `stuck on …` after 2 min.
 */
const UDP_CLIENT = `
const [host, port] = process.argv.slice(1);
const s = require('node:dgram').createSocket('udp4');
let first; let streak = 0;
const deadline = Date.now() + 120000;
s.on('message', (m) => {
  const a = m.toString().trim();
  if (first === undefined) { first = a; console.log(a); return; }
  if (a === first) { streak = 0; return; }
  if (++streak >= 5) { console.log('moved to ' + a); process.exit(0); }
});
setInterval(() => {
  if (Date.now() > deadline) { console.log('stuck on ' + first); process.exit(0); }
  s.send('x', Number(port), host);
}, 50);`;

function conntrackMissing(): string | false {
  try {
    execFileSync('conntrack', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'skipped: conntrack (conntrack-tools) is not installed';
  }
}

interface Tally {
  readonly answers: Record<string, number>;
  readonly errors: number;
  /** Failures by kind: `timeout`, or the socket error code (`ECONNREFUSED`). */
  readonly failures: Record<string, number>;
}

async function connect(from: string, host: string, port: number, count = 1, timeoutMs = 1500): Promise<Tally> {
  const out = await sh(['nsenter', `--net=${nsPath(from)}`, NODE, '-e', CLIENT, host, String(port), String(count), String(timeoutMs)]);
  return JSON.parse(out) as Tally;
}

/** One UDP datagram to host:port from namespace `from`; the answer, or `timeout`. */
async function udpAsk(from: string, host: string, port: number): Promise<string> {
  const script = `const s = require('node:dgram').createSocket('udp4');
    const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);
    s.on('message', (m) => { clearTimeout(t); console.log(m.toString()); process.exit(0); });
    s.send('q', ${port}, ${JSON.stringify(host)});`;
  return (await sh(['nsenter', `--net=${nsPath(from)}`, NODE, '-e', script])).trim();
}

/** What a host namespace's iptables hold: the rule lines (counters and comments left out). */
async function iptablesRules(host: string): Promise<string[]> {
  const out = await sh(['nsenter', `--net=${nsPath(host)}`, 'iptables-save']);
  return out.split('\n').filter((l) => l.startsWith('-') || l.startsWith(':')).map((l) => l.replace(/\[\d+:\d+\]/, ''));
}

const UNDERLAY: Record<string, string> = { h1: '10.198.0.11', h2: '10.198.0.12' };
const NET_A = mapNetwork('aaaaaaaaaaaaaaaa', '10.10.0.0/16', 0x100001, { nodes: ['h1', 'h2'] });
const NET_B = mapNetwork('bbbbbbbbbbbbbbbb', '10.20.0.0/16', 0x100002, { internal: true, nodes: ['h1', 'h2'] });
const INGRESS = mapNetwork('ingressid0000', '10.255.0.0/16', 0x100000, { ingress: true, nodes: ['h1', 'h2'] });
for (const n of [NET_A, NET_B, INGRESS]) {
  n.slices = n.slices.map((s) => ({ ...s, underlay: UNDERLAY[s.nodeId] ?? '' }));
}
// Plain containers may join network a: the last quarter of each slice is theirs (10.10.1.192/26 on h1).
NET_A.attachable = true;

/** Tasks: name, host, attachments [network, address]. The first attachment carries the default route. */
const TASKS: ReadonlyArray<{ name: string; host: string; nets: ReadonlyArray<[typeof NET_A, string]> }> = [
  { name: 't1', host: 'h1', nets: [[NET_A, '10.10.1.2'], [INGRESS, '10.255.1.2']] },
  { name: 't2', host: 'h2', nets: [[NET_A, '10.10.2.2'], [INGRESS, '10.255.2.2']] },
  { name: 'c1', host: 'h1', nets: [[NET_A, '10.10.1.3']] },
  // A plain container (`docker run --network a`), given its address by Docker's IPAM.
  { name: 'p1', host: 'h1', nets: [[NET_A, '10.10.1.192']] },
  { name: 'b1', host: 'h1', nets: [[NET_B, '10.20.1.2']] },
  { name: 'b2', host: 'h2', nets: [[NET_B, '10.20.2.2']] },
];

function mapAt(revision: number, endpoints: MapEndpoint[]): NetworkMap {
  return {
    revision,
    networks: [NET_A, NET_B, INGRESS],
    services: [
      service('svcweb', 'web', {
        networks: [{ networkId: NET_A.id, name: NET_A.name, aliases: [] }],
        virtualIps: [
          { networkId: NET_A.id, addr: '10.10.0.2/16' },
          { networkId: INGRESS.id, addr: '10.255.0.2/16' },
        ],
        ingressPorts: [{ published: 8080, target: 8080, protocol: 'tcp' }],
        endpoints,
      }),
      service('svcempty', 'empty', {
        networks: [{ networkId: NET_A.id, name: NET_A.name, aliases: [] }],
        virtualIps: [{ networkId: NET_A.id, addr: '10.10.0.3/16' }],
      }),
    ],
  };
}

const WEB_ENDPOINTS = [
  endpoint('t1', 'h1', [NET_A.id, '10.10.1.2/16'], [INGRESS.id, '10.255.1.2/16']),
  endpoint('t2', 'h2', [NET_A.id, '10.10.2.2/16'], [INGRESS.id, '10.255.2.2/16']),
];

/** A runner that counts `iptables-restore` runs, to know when a reconcile has applied. */
function counting(inner: CommandRunner): CommandRunner & { restores: number } {
  const r = {
    restores: 0,
    run: async (argv: readonly string[], stdin?: string) => {
      const res = await inner.run(argv, stdin);
      if (argv[0] === 'iptables-restore') r.restores++;
      return res;
    },
    writeSysctls: (e: ReadonlyArray<readonly [string, string]>) => inner.writeSysctls(e),
  };
  return r;
}

async function deleteAll(): Promise<void> {
  const list = await runCommand(['ip', 'netns', 'list']);
  for (const line of list.stdout.split('\n')) {
    const name = line.split(/\s+/)[0] ?? '';
    if (name.startsWith(`${PREFIX}-`)) await runCommand(['ip', 'netns', 'delete', name]);
  }
}

void describe('DataPlane on a real kernel (network namespaces)', { skip: skipReason() }, () => {
  const children: ChildProcess[] = [];
  const planes = new Map<string, { plane: DataPlane; runner: ReturnType<typeof counting> }>();
  const warnings: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => warnings.push(l) });

  function startPlane(host: string): { plane: DataPlane; runner: ReturnType<typeof counting> } {
    const runner = counting(nsenterRunner(nsPath(host)));
    const plane = new DataPlane({
      clock: systemClock,
      logger,
      nodeId: host,
      underlay: { addr: UNDERLAY[host] ?? '', dev: 'eth0', mtu: 1500 },
      bridges: kernelBridges(runner),
      runner,
    });
    plane.start();
    planes.set(host, { plane, runner });
    return { plane, runner };
  }

  /** Gives every host `map` and waits until each has applied it. */
  async function applyEverywhere(map: NetworkMap): Promise<void> {
    const marks = [...planes.values()].map((p) => ({ ...p, at: p.runner.restores }));
    for (const p of marks) p.plane.setMap(map);
    await waitFor('every host to apply the map', async () => (marks.every((p) => p.runner.restores > p.at) ? true : undefined));
    for (const p of marks) await p.plane.whenIdle();
  }

  /** A TCP server on :8080 and a UDP echo on :9999, both answering the task's name. */
  function serve(task: string): void {
    const name = JSON.stringify(task);
    const script = `require('node:net').createServer((s) => s.end(${name} + '\\n')).listen(8080);
      const u = require('node:dgram').createSocket('udp4');
      u.on('message', (m, r) => u.send(${name}, r.port, r.address)).bind(9999);`;
    children.push(spawn('nsenter', [`--net=${nsPath(task)}`, NODE, '-e', script], { stdio: 'ignore' }));
  }

  before(async () => {
    await deleteAll();
    await sh(['ip', 'netns', 'add', ns('sw')]);
    await sh(['ip', '-n', ns('sw'), 'link', 'add', 'br0', 'type', 'bridge']);
    await sh(['ip', '-n', ns('sw'), 'link', 'set', 'br0', 'up']);
    for (const [name, addr] of [['h1', '10.198.0.11'], ['h2', '10.198.0.12'], ['probe', '10.198.0.254']] as const) {
      await sh(['ip', 'netns', 'add', ns(name)]);
      await sh(['ip', '-n', ns(name), 'link', 'set', 'lo', 'up']);
      await sh(['ip', '-n', ns('sw'), 'link', 'add', `p-${name}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns(name)]);
      await sh(['ip', '-n', ns('sw'), 'link', 'set', `p-${name}`, 'master', 'br0', 'up']);
      await sh(['ip', '-n', ns(name), 'addr', 'add', `${addr}/24`, 'dev', 'eth0']);
      await sh(['ip', '-n', ns(name), 'link', 'set', 'eth0', 'up']);
    }
    const probe = spawn('nsenter', [`--net=${nsPath('probe')}`, NODE, '-e', `require('node:net').createServer((s) => s.end('probe\\n')).listen(9000)`], { stdio: 'ignore' });
    children.push(probe);

    for (const host of ['h1', 'h2']) startPlane(host);
    await applyEverywhere(mapAt(1, []));
    for (const [host, { plane }] of planes) {
      for (const n of [NET_A, NET_B, INGRESS]) await plane.waitForNetwork(n.id, AbortSignal.timeout(15_000)).catch((err: unknown) => {
        throw new Error(`${host}: network ${n.name} not ready: ${String(err)}\n${warnings.join('')}`);
      });
    }

    // Tasks: a namespace each, one veth per network on the host's bridge, a server on :8080.
    for (const t of TASKS) {
      await sh(['ip', 'netns', 'add', ns(t.name)]);
      await sh(['ip', '-n', ns(t.name), 'link', 'set', 'lo', 'up']);
      let i = 0;
      for (const [net, addr] of t.nets) {
        const hostIf = `v${t.name}${i}`;
        const taskIf = `eth${i}`;
        await sh(['ip', '-n', ns(t.host), 'link', 'add', hostIf, 'mtu', '1450', 'type', 'veth', 'peer', 'name', taskIf, 'mtu', '1450', 'netns', ns(t.name)]);
        await sh(['ip', '-n', ns(t.host), 'link', 'set', hostIf, 'master', bridgeName(net.id), 'up']);
        await sh(['ip', '-n', ns(t.name), 'addr', 'add', `${addr}/16`, 'dev', taskIf]);
        await sh(['ip', '-n', ns(t.name), 'link', 'set', taskIf, 'up']);
        if (i === 0) {
          const slice = net.slices.find((s) => s.nodeId === t.host)?.subnet ?? '';
          await sh(['ip', '-n', ns(t.name), 'route', 'add', 'default', 'via', slice.replace(/\.0\/24$/, '.1')]);
        }
        i++;
      }
      serve(t.name);
    }
    // The endpoints join once they serve (as the manager's map would say); hairpin gets set then.
    await applyEverywhere(mapAt(2, WEB_ENDPOINTS));
  });

  after(async () => {
    for (const { plane } of planes.values()) await plane.stop().catch(() => {});
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await deleteAll();
  });

  it('connects tasks across hosts over VXLAN', async () => {
    const t = await waitFor('c1 (h1) → t2 (h2)', async () => {
      const r = await connect('c1', '10.10.2.2', 8080);
      return r.answers['t2'] === 1 ? r : undefined;
    });
    assert.equal(t.errors, 0);
    assert.deepEqual((await connect('t2', '10.10.1.2', 8080)).answers, { t1: 1 });
  });

  it('load-balances the VIP over both endpoints, from a client and from an endpoint itself (hairpin)', async () => {
    await waitFor('the VIP to answer', async () => ((await connect('c1', '10.10.0.2', 8080)).errors === 0 ? true : undefined));
    const fromClient = await connect('c1', '10.10.0.2', 8080, 40);
    assert.equal(fromClient.errors, 0, JSON.stringify(fromClient));
    assert.ok((fromClient.answers['t1'] ?? 0) > 0 && (fromClient.answers['t2'] ?? 0) > 0, JSON.stringify(fromClient));
    const fromEndpoint = await connect('t1', '10.10.0.2', 8080, 40);
    assert.equal(fromEndpoint.errors, 0, JSON.stringify(fromEndpoint));
    assert.ok((fromEndpoint.answers['t1'] ?? 0) > 0 && (fromEndpoint.answers['t2'] ?? 0) > 0, JSON.stringify(fromEndpoint));
  });

  it('isolates networks: a task on another network reaches neither the tasks nor the VIP', async () => {
    await waitFor('b1 (h1) → b2 (h2) on their own network', async () => ((await connect('b1', '10.20.2.2', 8080)).answers['b2'] === 1 ? true : undefined));
    for (const target of ['10.10.1.2', '10.10.2.2', '10.10.0.2']) {
      const r = await connect('b1', target, 8080, 1, 1000);
      assert.deepEqual(r, { answers: {}, errors: 1, failures: { timeout: 1 } }, `b1 → ${target}`);
    }
  });

  it('keeps an internal network inside: no way to the underlay probe, while a normal network gets out', async () => {
    await waitFor('c1 (network a) to reach the probe', async () => ((await connect('c1', '10.198.0.254', 9000)).answers['probe'] === 1 ? true : undefined));
    assert.deepEqual(await connect('b1', '10.198.0.254', 9000, 1, 1000), { answers: {}, errors: 1, failures: { timeout: 1 } });
  });

  it('answers an ingress port on every host’s underlay address, from endpoints on both hosts', async () => {
    for (const addr of ['10.198.0.11', '10.198.0.12']) {
      await waitFor(`the mesh on ${addr}`, async () => ((await connect('probe', addr, 8080)).errors === 0 ? true : undefined));
      const r = await connect('probe', addr, 8080, 30);
      assert.equal(r.errors, 0, JSON.stringify(r));
      assert.ok((r.answers['t1'] ?? 0) > 0 && (r.answers['t2'] ?? 0) > 0, `${addr}: ${JSON.stringify(r)}`);
    }
  });

  it('re-applies idempotently: the same rules after another apply and after a restart of the data plane', async (t) => {
    const before = await iptablesRules('h1');
    const start = Date.now();
    await applyEverywhere(mapAt(3, WEB_ENDPOINTS));
    t.diagnostic(`map → applied on both hosts: ${Date.now() - start} ms (load-dependent; not asserted)`);
    assert.deepEqual(await iptablesRules('h1'), before);

    // Restart h1's data plane: stop (kernel state stays), a new one re-applies the same plan.
    const old = planes.get('h1');
    await old?.plane.stop();
    planes.delete('h1');
    assert.deepEqual(await iptablesRules('h1'), before);
    startPlane('h1');
    await applyEverywhere(mapAt(4, WEB_ENDPOINTS));
    assert.deepEqual(await iptablesRules('h1'), before);
    assert.equal((await connect('c1', '10.10.0.2', 8080, 10)).errors, 0);
    assert.equal(warnings.length, 0, warnings.join(''));
  });

  it('takes a removed endpoint out of the VIP at once', async () => {
    await applyEverywhere(mapAt(5, WEB_ENDPOINTS.filter((e) => e.taskId === 't1')));
    const r = await connect('c1', '10.10.0.2', 8080, 20);
    assert.deepEqual(r, { answers: { t1: 20 }, errors: 0, failures: {} });
  });

  it('moves a UDP client on one socket off an endpoint that left (conntrack entries deleted)', { skip: conntrackMissing() }, async () => {
    await applyEverywhere(mapAt(6, WEB_ENDPOINTS));
    const child = spawn('nsenter', [`--net=${nsPath('c1')}`, NODE, '-e', UDP_CLIENT, '10.10.0.2', '9999'], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(child);
    const lines = createInterface({ input: child.stdout as Readable })[Symbol.asyncIterator]();
    const first = (await lines.next()).value as string;
    assert.ok(first === 't1' || first === 't2', first);
    // The endpoint still runs: without the conntrack delete, the socket's flow would stay on it.
    await applyEverywhere(mapAt(7, WEB_ENDPOINTS.filter((e) => e.taskId !== first)));
    assert.equal((await lines.next()).value, `moved to ${first === 't1' ? 't2' : 't1'}`);
  });

  it('takes the DNS queries plain containers send to any server to the agent on the gateway; a task\'s go where they were sent', async () => {
    // Stand-ins: the agent's DNS on h1's gateway of network a, and an "upstream" resolver on the probe.
    const answer = (text: string, bind: string): string =>
      `const u = require('node:dgram').createSocket('udp4'); u.on('message', (m, r) => u.send(${JSON.stringify(text)}, r.port, r.address)).bind(53, ${JSON.stringify(bind)});`;
    children.push(spawn('nsenter', [`--net=${nsPath('h1')}`, NODE, '-e', answer('agent', '10.10.1.1')], { stdio: 'ignore' }));
    children.push(spawn('nsenter', [`--net=${nsPath('probe')}`, NODE, '-e', answer('upstream', '10.198.0.254')], { stdio: 'ignore' }));
    await waitFor('the upstream stand-in to answer the task', async () => ((await udpAsk('c1', '10.198.0.254', 53)) === 'upstream' ? true : undefined));
    assert.equal(await udpAsk('p1', '10.198.0.254', 53), 'agent');
    assert.equal(await udpAsk('p1', '10.10.1.1', 53), 'agent');
    assert.equal(await udpAsk('c1', '10.198.0.254', 53), 'upstream');
    // A DNS server on the overlay (a task here and on the other node) is asked, not the agent.
    children.push(spawn('nsenter', [`--net=${nsPath('c1')}`, NODE, '-e', answer('task c1', '10.10.1.3')], { stdio: 'ignore' }));
    children.push(spawn('nsenter', [`--net=${nsPath('t2')}`, NODE, '-e', answer('task t2', '10.10.2.2')], { stdio: 'ignore' }));
    await waitFor('the task stand-in to answer the plain container', async () => ((await udpAsk('p1', '10.10.1.3', 53)) === 'task c1' ? true : undefined));
    await waitFor('the stand-in on the other node to answer the plain container', async () => ((await udpAsk('p1', '10.10.2.2', 53)) === 'task t2' ? true : undefined));
    // Meanwhile the other server still gets the agent (nothing else changed for it).
    assert.equal(await udpAsk('p1', '10.198.0.254', 53), 'agent');
  });

  it('refuses connections to a VIP without endpoints (not a silent drop)', async () => {
    assert.deepEqual(await connect('c1', '10.10.0.3', 8080, 1, 5000), { answers: {}, errors: 1, failures: { ECONNREFUSED: 1 } });
  });
});
