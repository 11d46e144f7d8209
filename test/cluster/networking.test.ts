/**
 * Issue #9's acceptance scenarios on the multi-host test bed: overlay networks across 3 hosts,
 * service discovery by DNS, VIP load balancing, the routing mesh, isolation, stacks, an
 * agent restart, an exec task and a container reaching each other by name, and a plain
 * `docker run --network` container on an attachable network. The tests run in order and share the bed; each states what it leaves behind.
 * (busybox's `wget -T` crashes in the static busybox of the test image: requests are bounded
 * with `timeout` instead.) Waits are bounded only to catch hangs; how fast things happen is measured by
 * `npm run bench:network`, not asserted here.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { containerRange, type Network } from '../../src/api/network.ts';
import type { Task } from '../../src/api/task.ts';
import { cidr, contains, parseIp } from '../../src/lib/cidr.ts';
import { BED_IMAGE, TestBed } from './bed.ts';
import { execInContainer, type ExecResult } from './container-exec.ts';
import { UdpPeer } from './udp-peers.ts';
import { run } from './proc.ts';
import { bedSkipReason } from './skip.ts';
import { waitFor } from './wait.ts';

const skip = await bedSkipReason();
// A bed of its own (prefix, /24): the other bed tests run beside this file.
const PREFIX = 'flt-n';
const SUBNET = '10.199.4';
const PROBE = `${SUBNET}.254`;
const PROBE_PORT = 18_080;
/** An HTTP server on port 8080 that answers with the task's host name. */
const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'];
const IDLE = ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'];
/**
 * An exec task's HTTP server on :8080 (Node, a host program): `/` answers `exec task`,
 * `/probe?url=U` fetches U by name from inside the task's namespace and answers `via exec: <body>`.
 */
const EXEC_HTTP = `require('node:http').createServer(async (req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname !== '/probe') return res.end('exec task\\n');
  try {
    const r = await fetch(u.searchParams.get('url'), { signal: AbortSignal.timeout(5000) });
    res.end('via exec: ' + (await r.text()).trim() + '\\n');
  } catch (e) {
    res.statusCode = 502;
    res.end('error: ' + (e.cause?.code ?? e.message) + '\\n');
  }
}).listen(8080);`;

describe('overlay networks (issue #9) on the multi-host test bed', { skip, timeout: 1_200_000 }, () => {
  let bed: TestBed;
  let probe: Server;

  before(async () => {
    // Its agents run the exec driver too (an exec task and a container reach each other).
    bed = await TestBed.create({ hosts: 3, prefix: PREFIX, subnet: SUBNET, exec: true });
    await Promise.all(bed.hosts.map((h) => bed.waitReady(h.name)));
    // Something outside every overlay that tasks may (or, on an internal network, may not) reach.
    probe = createServer((_req, res) => res.end('probe'));
    await new Promise<void>((resolve) => probe.listen(PROBE_PORT, PROBE, resolve));
  });
  after(async () => {
    probe?.close();
    const problems = await bed?.destroy();
    assert.deepEqual(problems ?? [], [], 'the bed tears down cleanly');
  });

  async function cli(...args: string[]): Promise<string> {
    const r = await bed.cli(...args);
    assert.equal(r.code, 0, `flotilla ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }

  async function network(name: string): Promise<Network> {
    return bed.client.getNetwork(name);
  }

  async function running(service: string): Promise<Task[]> {
    const tasks = await bed.client.listTasks({ service });
    return tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');
  }

  /** Waits for `n` running tasks of `service`, each with an address on every network it is on. */
  async function waitRunning(service: string, n: number): Promise<Task[]> {
    let tasks: Task[] = [];
    await waitFor(async () => {
      tasks = await running(service);
      const addressed = tasks.filter((t) => (t.status.networks?.length ?? 0) >= (t.networks?.length ?? 0));
      if (addressed.length === n && tasks.length === n) return true;
      const all = await bed.client.listTasks({ service });
      return `${addressed.length}/${n} running with addresses; ${all.map((t) => `${t.status.state}:${t.status.message}${t.status.err ? `:${t.status.err}` : ''}`).join(', ')}`;
    }, 120_000, `${n} running tasks of ${service}`);
    return tasks;
  }

  function hostOf(t: Task, nodes: Map<string, string>): string {
    return nodes.get(t.nodeId ?? '') ?? '?';
  }

  async function nodeNames(): Promise<Map<string, string>> {
    return new Map((await bed.client.listNodes()).map((n) => [n.id, n.description.hostname]));
  }

  /** Runs a command in the container of a running task of `service`. */
  async function execIn(task: Task, argv: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
    const host = hostOf(task, await nodeNames());
    const id = task.status.containerId;
    assert.ok(id, `task ${task.id} has a container`);
    return execInContainer(bed.host(host).engine.docker, id, argv, timeoutMs);
  }

  /** The A records busybox's nslookup printed for the name (after the server's own lines). */
  function addressesIn(nslookup: string): string[] {
    const out: string[] = [];
    let afterName = false;
    for (const line of nslookup.split('\n')) {
      if (/^Name:/.test(line)) afterName = true;
      const m = /^Address(?: \d+)?:\s*([0-9.]+)\s*$/.exec(line);
      if (afterName && m?.[1]) out.push(m[1]);
    }
    return [...new Set(out)].sort();
  }

  function addressOn(t: Task, networkId: string): string {
    const a = t.status.networks?.find((n) => n.networkId === networkId)?.addr;
    assert.ok(a, `task ${t.id} has an address on ${networkId}`);
    return a.split('/')[0] ?? '';
  }

  function inRange(ip: string, range: string): boolean {
    const n = parseIp(ip);
    return n !== undefined && contains(cidr(range), n);
  }

  /** GET from the test process (outside every overlay), through the probe link. */
  function httpGet(url: string, timeoutMs = 5_000): Promise<{ ok: boolean; body: string; error?: string }> {
    return new Promise((resolve) => {
      const req = request(url, { timeout: timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ ok: res.statusCode === 200, body: body.trim() }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve({ ok: false, body: '', error: e.message }));
      req.end();
    });
  }

  let appnet: Network;
  let client: Task;

  it('resolves a service to its VIP and tasks.NAME to one address per host, and balances over all three', async () => {
    await cli('network', 'create', 'appnet');
    appnet = await network('appnet');
    await cli('service', 'create', '--detach', '--name', 'web', '--network', 'appnet', '--replicas', '3', '--replicas-max-per-node', '1', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    await cli('service', 'create', '--detach', '--name', 'client', '--network', 'appnet', '--constraint', 'node.hostname==h1', '--stop-grace-period', '1s', BED_IMAGE, ...IDLE);
    const web = await waitRunning('web', 3);
    [client] = await waitRunning('client', 1) as [Task];
    const nodes = await nodeNames();
    assert.deepEqual(web.map((t) => hostOf(t, nodes)).sort(), ['h1', 'h2', 'h3'], 'one web task per host');

    const vipBlock = `${appnet.subnet.split('.').slice(0, 2).join('.')}.0.0/24`;
    let vip: string[] = [];
    await waitFor(async () => {
      vip = addressesIn((await execIn(client, ['nslookup', 'web'])).stdout);
      return (vip.length === 1 && inRange(vip[0] ?? '', vipBlock)) || `web resolves to ${vip.join(',') || 'nothing'}`;
    }, 120_000, 'web to resolve to its VIP');

    const taskIps = web.map((t) => addressOn(t, appnet.id)).sort();
    await waitFor(async () => {
      const got = addressesIn((await execIn(client, ['nslookup', 'tasks.web'])).stdout);
      return JSON.stringify(got) === JSON.stringify(taskIps) || `tasks.web resolves to ${got.join(',')}; want ${taskIps.join(',')}`;
    }, 120_000, 'tasks.web to resolve to the three task addresses');

    const seen = new Map<string, number>();
    const loop = 'for i in $(seq 60); do timeout 5 wget -q -O - http://web:8080/ || echo FAILED; done';
    const r = await execIn(client, ['sh', '-c', loop], 180_000);
    for (const line of r.stdout.split('\n').filter(Boolean)) seen.set(line, (seen.get(line) ?? 0) + 1);
    assert.equal(seen.get('FAILED'), undefined, `every request answered: ${[...seen].join(' ')}`);
    assert.equal(seen.size, 3, `60 requests reached all three tasks: ${[...seen].join(' ')}`);

    for (const ip of taskIps) {
      const direct = await execIn(client, ['timeout', '5', 'wget', '-q', '-O', '-', `http://${ip}:8080/`]);
      assert.equal(direct.code, 0, `task address ${ip} answers directly: ${direct.stderr}`);
    }
    const mtu = await execIn(client, ['cat', '/sys/class/net/eth0/mtu']);
    const underlay = (await bed.node('h1'))?.description.network?.mtu;
    assert.ok(underlay, 'h1 describes its underlay');
    assert.equal(Number(mtu.stdout.trim()), underlay - 50, `the overlay MTU is the underlay's (${underlay}) minus 50`);
  });

  it('answers dnsrr services with the task addresses', async () => {
    await cli('service', 'create', '--detach', '--name', 'rr', '--network', 'appnet', '--endpoint-mode', 'dnsrr', '--replicas', '2', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    const tasks = await waitRunning('rr', 2);
    const ips = tasks.map((t) => addressOn(t, appnet.id)).sort();
    await waitFor(async () => {
      const got = addressesIn((await execIn(client, ['nslookup', 'rr'])).stdout);
      return JSON.stringify(got) === JSON.stringify(ips) || `rr resolves to ${got.join(',')}; want ${ips.join(',')}`;
    }, 120_000, 'rr to resolve to its task addresses');
    await cli('service', 'rm', 'rr');
  });

  it('takes a killed task out of DNS and rotation, and every request then succeeds', async () => {
    const nodes = await nodeNames();
    const web = await running('web');
    const victim = web.find((t) => hostOf(t, nodes) === 'h3');
    assert.ok(victim?.status.containerId, 'web has a task on h3');
    const victimIp = addressOn(victim, appnet.id);
    await bed.host('h3').engine.docker.getContainer(victim.status.containerId).kill();
    await waitFor(async () => {
      const got = addressesIn((await execIn(client, ['nslookup', 'tasks.web'])).stdout);
      return !got.includes(victimIp) || `tasks.web still lists ${victimIp}`;
    }, 120_000, 'the killed task to leave DNS');
    const loop = 'ok=0; for i in $(seq 50); do timeout 5 wget -q -O /dev/null http://web:8080/ && ok=$((ok+1)); done; echo $ok';
    const r = await execIn(client, ['sh', '-c', loop], 300_000);
    assert.equal(r.stdout.trim(), '50', `50 requests in a row succeed after the kill: ${r.stdout}${r.stderr}`);
    await waitRunning('web', 3);
  });

  it('publishes an ingress port on every host: answers with 1 replica, spreads over 2, refuses at 0', async () => {
    await cli('service', 'create', '--detach', '--name', 'edge', '--publish', 'published=8081,target=8080', '--replicas', '1', '--constraint', 'node.hostname==h2', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    const [only] = (await waitRunning('edge', 1)) as [Task];
    // The task answers with its host name: its container id's first 12 characters.
    const h2Task = only.status.containerId?.slice(0, 12) ?? '?';
    for (const h of bed.hosts) {
      await waitFor(async () => {
        const r = await httpGet(`http://${h.ip}:8081/`);
        return (r.ok && r.body === h2Task) || `${h.name}: ${r.error ?? r.body}`;
      }, 120_000, `the ingress port to answer on ${h.name}`);
    }
    await cli('service', 'update', '--detach', '--constraint-rm', 'node.hostname==h2', '--replicas-max-per-node', '1', 'edge');
    await cli('service', 'scale', '--detach', 'edge=2');
    await waitRunning('edge', 2);
    const seen = new Set<string>();
    await waitFor(async () => {
      const r = await httpGet(`http://${bed.hosts[0]?.ip ?? ''}:8081/`);
      if (r.ok) seen.add(r.body);
      return seen.size === 2 || `seen through h1: ${[...seen].join(',')}`;
    }, 60_000, 'both replicas to answer through one node');
    await cli('service', 'scale', '--detach', 'edge=0');
    for (const h of bed.hosts) {
      await waitFor(async () => {
        const r = await httpGet(`http://${h.ip}:8081/`, 3_000);
        return (!r.ok && /ECONNREFUSED|ECONNRESET|EHOSTUNREACH/.test(r.error ?? '')) || `${h.name}: ${r.error ?? r.body}`;
      }, 120_000, `${h.name} to refuse the port with no replica`);
    }
    await cli('service', 'rm', 'edge');
  });

  it('isolates networks: no name, no address, no VIP of another network; internal networks reach nothing outside', async () => {
    await cli('network', 'create', 'netx');
    await cli('network', 'create', 'nety');
    await cli('network', 'create', '--internal', 'inner');
    await cli('service', 'create', '--detach', '--name', 'a', '--network', 'netx', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    await cli('service', 'create', '--detach', '--name', 'b', '--network', 'nety', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    await cli('service', 'create', '--detach', '--name', 'shut', '--network', 'inner', '--stop-grace-period', '1s', BED_IMAGE, ...IDLE);
    const [a] = (await waitRunning('a', 1)) as [Task];
    const [b] = (await waitRunning('b', 1)) as [Task];
    const [shut] = (await waitRunning('shut', 1)) as [Task];
    const nety = await network('nety');
    const bIp = addressOn(b, nety.id);
    const svc = await bed.client.getService('b');
    const bVip = svc.endpointStatus?.virtualIps[0]?.addr.split('/')[0] ?? '';

    const own = await execIn(a, ['timeout', '5', 'wget', '-q', '-O', '-', 'http://a:8080/']);
    assert.equal(own.code, 0, `a reaches its own service: ${own.stderr}`);
    const name = await execIn(a, ['nslookup', 'b']);
    assert.deepEqual(addressesIn(name.stdout), [], `b does not resolve on netx: ${name.stdout}`);
    for (const target of [bIp, bVip]) {
      const r = await execIn(a, ['timeout', '3', 'wget', '-q', '-O', '-', `http://${target}:8080/`]);
      assert.notEqual(r.code, 0, `a cannot reach ${target} on nety`);
    }
    const out = await execIn(client, ['timeout', '5', 'wget', '-q', '-O', '-', `http://${PROBE}:${PROBE_PORT}/`]);
    assert.equal(out.stdout.trim(), 'probe', `a task on a plain network reaches the probe: ${out.stderr}`);
    const blocked = await execIn(shut, ['timeout', '3', 'wget', '-q', '-O', '-', `http://${PROBE}:${PROBE_PORT}/`]);
    assert.notEqual(blocked.code, 0, 'a task on an internal network does not');
    for (const s of ['a', 'b', 'shut']) await cli('service', 'rm', s);
  });

  it('deploys a stack whose frontend and backend networks let proxy→web and web→db work by short name, not proxy→db', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flt-net-stack-'));
    const file = join(dir, 'compose.yaml');
    const httpd = `["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]`;
    writeFileSync(file, [
      'services:',
      `  proxy: { image: "${BED_IMAGE}", command: ${httpd}, networks: [frontend] }`,
      `  web: { image: "${BED_IMAGE}", command: ${httpd}, networks: [frontend, backend] }`,
      `  db: { image: "${BED_IMAGE}", command: ${httpd}, networks: [backend] }`,
      'networks:',
      '  frontend: {}',
      '  backend: {}',
      '',
    ].join('\n'));
    await cli('stack', 'deploy', '-c', file, 'shop');
    const [proxy] = (await waitRunning('shop_proxy', 1)) as [Task];
    const [web] = (await waitRunning('shop_web', 1)) as [Task];
    await waitRunning('shop_db', 1);
    await waitFor(async () => (await execIn(proxy, ['timeout', '5', 'wget', '-q', '-O', '-', 'http://web:8080/'])).code === 0 || 'proxy → web fails', 120_000, 'proxy to reach web');
    await waitFor(async () => (await execIn(web, ['timeout', '5', 'wget', '-q', '-O', '-', 'http://db:8080/'])).code === 0 || 'web → db fails', 120_000, 'web to reach db by its short name');
    const blocked = await execIn(proxy, ['timeout', '3', 'wget', '-q', '-O', '-', 'http://db:8080/']);
    assert.notEqual(blocked.code, 0, 'proxy cannot reach db');
    await cli('stack', 'rm', 'shop');
    await waitFor(async () => {
      const nets = await bed.client.listNetworks();
      return !nets.some((n) => n.spec.name.startsWith('shop_')) || 'the stack networks are still there';
    }, 60_000, 'stack rm to remove the stack networks');
  });

  it('keeps task addresses, flows and the rule count across an agent restart', async () => {
    const nodes = await nodeNames();
    const ipsBefore = new Map((await running('web')).map((t) => [t.id, { ip: addressOn(t, appnet.id), host: hostOf(t, nodes) }]));
    const rules = async (): Promise<number> => (await bed.runIn('h2', ['iptables-save'])).stdout.split('\n').filter((l) => l.startsWith('-A')).length;
    // Start from a settled host: no rule left for a network removed earlier (the stack's).
    await waitFor(async () => {
      const live = new Set((await bed.client.listNetworks()).map((n) => n.id.slice(0, 10)));
      const saved = (await bed.runIn('h2', ['iptables-save'])).stdout;
      const stale = [...new Set([...saved.matchAll(/fl[bx]-([a-z0-9]{10})/g)].map((m) => m[1] ?? ''))].filter((id) => !live.has(id));
      return stale.length === 0 || `rules of removed networks ${stale.join(', ')} still on h2`;
    }, 60_000, 'h2 to drop the rules of removed networks');
    const countBefore = await rules();
    await bed.stopAgent('h2');
    // The kernel state stays while the agent is away: the VIP keeps serving, h2's task included.
    const during = await execIn(client, ['sh', '-c', 'ok=0; for i in $(seq 20); do timeout 5 wget -q -O /dev/null http://web:8080/ && ok=$((ok+1)); done; echo $ok'], 200_000);
    assert.equal(during.stdout.trim(), '20', 'the VIP keeps serving while h2 has no agent');
    bed.startAgent('h2');
    await bed.waitReady('h2');
    await waitRunning('web', 3);
    // h2 may have been marked down meanwhile (its task then replaced, as after any node failure);
    // every task that lived through the restart keeps its address, and h1's and h3's all did.
    const after = await running('web');
    for (const t of after) {
      const before = ipsBefore.get(t.id);
      if (before) assert.equal(addressOn(t, appnet.id), before.ip, `task ${t.id} on ${before.host} keeps its address`);
    }
    for (const [id, b] of ipsBefore) {
      if (b.host !== 'h2') assert.ok(after.some((t) => t.id === id), `${b.host}'s task ${id} still runs`);
    }
    await waitFor(async () => {
      const n = await rules();
      return n === countBefore || `${n} rules, before ${countBefore}`;
    }, 120_000, 'the rule count to settle where it was');
  });

  it('keeps a task on an encrypted network pending, saying why', async () => {
    await cli('network', 'create', '--opt', 'encrypted', 'secnet');
    await cli('service', 'create', '--detach', '--name', 'sealed', '--network', 'secnet', BED_IMAGE, ...IDLE);
    await waitFor(async () => {
      const [t] = await bed.client.listTasks({ service: 'sealed' });
      return (t?.status.state === 'pending' && /encrypt/i.test(t.status.message)) || `${t?.status.state}: ${t?.status.message}`;
    }, 60_000, 'the task to wait with the encryption reason');
    await cli('service', 'rm', 'sealed');
  });

  it('moves a UDP client sending from a fixed source port to a live replica once the one answering it dies', async () => {
    // Replicas on h1 and h2 (the client's host and another), not replaced once killed.
    await cli('service', 'create', '--detach', '--name', 'echo', '--network', 'appnet', '--replicas', '2', '--replicas-max-per-node', '1', '--constraint', 'node.hostname!=h3', '--restart-condition', 'none', '--stop-grace-period', '1s', BED_IMAGE, ...IDLE);
    const replicas = await waitRunning('echo', 2);
    const nodes = await nodeNames();
    const peers: UdpPeer[] = [];
    try {
      const servers = new Map<string, UdpPeer>();
      for (const t of replicas) {
        const server = await UdpPeer.start(bed, hostOf(t, nodes), t.status.containerId ?? '', ['serve', '9999', t.id], `serve-${t.id}`);
        peers.push(server);
        servers.set(t.id, server);
        await waitFor(() => server.output().includes('listening') || `${t.id}: ${server.output()}`, 30_000, `the UDP server in ${t.id}`);
      }
      const vip = (await bed.client.getService('echo')).endpointStatus?.virtualIps.find((v) => v.networkId === appnet.id)?.addr.split('/')[0];
      assert.ok(vip, 'echo has a VIP on appnet');
      const [c] = (await running('client')) as [Task];
      const sender = await UdpPeer.start(bed, hostOf(c, nodes), c.status.containerId ?? '', ['send', vip, '9999', '40000'], 'send');
      peers.push(sender);
      await waitFor(() => sender.answers().length >= 5 || `answers: ${sender.output() || 'none'}`, 60_000, 'the client to be answered through the VIP');
      // One flow: every datagram from the same source port reaches the same replica.
      const answering = sender.answers()[0]?.from ?? '';
      assert.deepEqual([...new Set(sender.answers().map((a) => a.from))], [answering], 'one replica answers the flow');
      const victim = replicas.find((t) => t.id === answering);
      assert.ok(victim?.status.containerId, `the answering replica ${answering} is a task of echo`);
      const where = hostOf(victim, nodes);
      const killedAt = Date.now();
      await bed.host(where).engine.docker.getContainer(victim.status.containerId).kill();
      await servers.get(victim.id)?.stop();
      // Without deleting the flow's conntrack entry the datagrams (every 100 ms keep it alive)
      // would go to the dead address for ever: the bound only catches that.
      await waitFor(() => {
        const after = sender.answers().filter((a) => a.at > killedAt);
        return after.some((a) => a.from !== answering) || `answers since the kill: ${after.map((a) => a.from).join(',') || 'none'}`;
      }, 60_000, `the client's datagrams from port 40000 to reach the live replica after ${answering} on ${where} died`);
    } finally {
      await Promise.all(peers.map((p) => p.stop()));
    }
    await cli('service', 'rm', 'echo');
  });

  it('takes a task being scaled down out of the VIP before it stops: no request fails', async () => {
    // The replicas share the client's host, whose rules must drop each stopping task before
    // its stop signal (other hosts get the manager's map, within the drain time). SIGKILL as the
    // stop signal: httpd as PID 1 would ignore SIGTERM and serve on through the grace period.
    await cli('service', 'create', '--detach', '--name', 'shrink', '--network', 'appnet', '--replicas', '3', '--constraint', 'node.hostname==h1', '--stop-signal', 'SIGKILL', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    const tasks = await waitRunning('shrink', 3);
    const ips = tasks.map((t) => addressOn(t, appnet.id)).sort();
    await waitFor(async () => {
      const got = addressesIn((await execIn(client, ['nslookup', 'tasks.shrink'])).stdout);
      return JSON.stringify(got) === JSON.stringify(ips) || `tasks.shrink resolves to ${got.join(',')}`;
    }, 30_000, 'the three replicas to be endpoints');
    const [c] = (await running('client')) as [Task];
    await execIn(c, ['rm', '-f', '/tmp/shrink.log', '/tmp/shrink.stop']);
    const loop = 'while [ ! -e /tmp/shrink.stop ]; do if timeout 5 wget -q -O /dev/null http://shrink:8080/; then echo ok; else echo FAILED; fi >> /tmp/shrink.log; done';
    const requests = execIn(c, ['sh', '-c', loop], 600_000);
    const lines = async (): Promise<string[]> => (await execIn(c, ['cat', '/tmp/shrink.log'])).stdout.split('\n').filter(Boolean);
    await waitFor(async () => (await lines()).length >= 5 || 'the request loop has not started', 60_000, 'the request loop to start');
    await cli('service', 'scale', '--detach', 'shrink=1');
    // Scaled-down tasks are removed: wait for two of the three containers to be gone or stopped.
    const engine = bed.host('h1').engine.docker;
    const alive = async (id: string): Promise<boolean> => (await engine.getContainer(id).inspect().catch(() => undefined))?.State.Running === true;
    await waitFor(async () => {
      const live = (await Promise.all(tasks.map((t) => alive(t.status.containerId ?? '')))).filter(Boolean).length;
      return live === 1 || `${live} of the 3 containers still run`;
    }, 120_000, 'two replicas to stop');
    const mark = (await lines()).length;
    await waitFor(async () => (await lines()).length >= mark + 5 || 'no request since the stop', 60_000, 'requests after the scale-down');
    await execIn(c, ['touch', '/tmp/shrink.stop']);
    await requests;
    const got = await lines();
    const failed = got.filter((l) => l !== 'ok').length;
    assert.equal(failed, 0, `${failed} of ${got.length} requests failed around the scale-down`);
    await cli('service', 'rm', 'shrink');
  });

  it('lets an exec task and a container on one network resolve and reach each other by service name', async () => {
    await cli('network', 'create', 'mixnet');
    const mixnet = await network('mixnet');
    await cli('service', 'create', '--detach', '--name', 'xweb', '--driver', 'exec', '--network', 'mixnet', '--constraint', 'node.hostname==h2', '--stop-grace-period', '1s', process.execPath, '-e', EXEC_HTTP);
    await cli('service', 'create', '--detach', '--name', 'cweb', '--network', 'mixnet', '--constraint', 'node.hostname==h1', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    const [xweb] = (await waitRunning('xweb', 1)) as [Task];
    const [cweb] = (await waitRunning('cweb', 1)) as [Task];
    const xIp = addressOn(xweb, mixnet.id);
    const cHostname = (await execIn(cweb, ['hostname'])).stdout.trim();

    // Container → exec task: by its name (a VIP), by tasks.NAME (its own address in its namespace).
    const vipBlock = `${mixnet.subnet.split('.').slice(0, 2).join('.')}.0.0/24`;
    await waitFor(async () => {
      const vip = addressesIn((await execIn(cweb, ['nslookup', 'xweb'])).stdout);
      const tasks = addressesIn((await execIn(cweb, ['nslookup', 'tasks.xweb'])).stdout);
      return (vip.length === 1 && inRange(vip[0] ?? '', vipBlock) && tasks.join() === xIp) || `xweb → ${vip.join(',')}, tasks.xweb → ${tasks.join(',')} (task ${xIp})`;
    }, 30_000, 'xweb to resolve to its VIP and tasks.xweb to the exec task');
    const direct = await execIn(cweb, ['timeout', '5', 'wget', '-q', '-O', '-', 'http://xweb:8080/']);
    assert.equal(direct.stdout.trim(), 'exec task', `the container reaches the exec task by name: ${direct.stderr}`);

    // Exec task → container: the task resolves cweb through the agent (its resolv.conf) and fetches it.
    const probe = await execIn(cweb, ['timeout', '10', 'wget', '-q', '-O', '-', 'http://xweb:8080/probe?url=http://cweb:8080/']);
    assert.equal(probe.stdout.trim(), `via exec: ${cHostname}`, `the exec task reaches the container by name: ${probe.stdout}${probe.stderr}`);

    // mixnet is not attachable: a plain container on h1 (which holds a slice of it) is refused by the engine.
    const h1 = bed.host('h1');
    const plain = await run('docker', ['-H', h1.engine.host, 'run', '--rm', '--network', `flt-${mixnet.id.slice(0, 10)}`, BED_IMAGE, 'true'], { allowFail: true });
    assert.notEqual(plain.code, 0, 'a plain container cannot join a network that is not attachable');
    assert.match(plain.stderr, /no available IPv4 addresses/);
    const byName = await run('docker', ['-H', h1.engine.host, 'run', '--rm', '--network', 'mixnet', BED_IMAGE, 'true'], { allowFail: true });
    assert.match(byName.stderr, /network mixnet not found/);

    await cli('service', 'rm', 'xweb', 'cweb');
    await waitFor(async () => !(await bed.client.listTasks()).some((t) => t.serviceName === 'xweb') || 'xweb tasks still listed', 60_000, 'xweb to go');
  });

  it('lets a plain docker run --network container on an attachable network reach a service by name, and be reached by its name', async () => {
    await cli('network', 'create', '--attachable', 'attnet');
    const attnet = await network('attnet');
    await cli('service', 'create', '--detach', '--name', 'aweb', '--network', 'attnet', '--constraint', 'node.hostname==h2', '--stop-grace-period', '1s', BED_IMAGE, ...HTTPD);
    const [aweb] = (await waitRunning('aweb', 1)) as [Task];
    const aHostname = (await execIn(aweb, ['hostname'])).stdout.trim();

    // Every node holds a slice of an attachable network, and its engine has the network by name.
    const h1 = bed.host('h1');
    const docker = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => run('docker', ['-H', h1.engine.host, ...args], { allowFail: true });
    await waitFor(async () => (await docker('network', 'inspect', 'attnet')).code === 0 || 'no Docker network attnet on h1 yet', 60_000, 'attnet on h1’s engine');
    const started = await docker('run', '-d', '--name', 'plainbox', '--network', 'attnet', BED_IMAGE, 'sh', '-c', 'mkdir -p /www && echo plain > /www/index.html && exec httpd -f -p 8080 -h /www');
    assert.equal(started.code, 0, `docker run --network attnet on h1: ${started.stderr}`);

    // Its address is Docker's, inside the container range of h1's slice (never a task's).
    const h1Node = await bed.node('h1');
    const slice = (await network('attnet')).slices.find((s) => s.nodeId === h1Node?.id)?.subnet;
    assert.ok(slice, 'h1 holds a slice of attnet');
    const ip = (await docker('inspect', '-f', '{{(index .NetworkSettings.Networks "attnet").IPAddress}}', 'plainbox')).stdout.trim();
    assert.ok(inRange(ip, containerRange(slice)), `plainbox's ${ip} is in ${containerRange(slice)}`);

    // The container resolves the service to its VIP and reaches it (Docker's resolver → the agent).
    const vipBlock = `${attnet.subnet.split('.').slice(0, 2).join('.')}.0.0/24`;
    await waitFor(async () => {
      const got = addressesIn((await docker('exec', 'plainbox', 'nslookup', 'aweb')).stdout);
      return (got.length === 1 && inRange(got[0] ?? '', vipBlock)) || `aweb resolves to ${got.join(',') || 'nothing'} in plainbox`;
    }, 30_000, 'aweb to resolve in the plain container');
    const fetched = await docker('exec', 'plainbox', 'timeout', '5', 'wget', '-q', '-O', '-', 'http://aweb:8080/');
    assert.equal(fetched.stdout.trim(), aHostname, `plainbox reaches aweb by name: ${fetched.stderr}`);

    // The task (on h2) reaches the container by its name.
    await waitFor(async () => {
      const r = await execIn(aweb, ['timeout', '5', 'wget', '-q', '-O', '-', 'http://plainbox:8080/']);
      return r.stdout.trim() === 'plain' || `aweb → plainbox: ${r.stdout.trim()}${r.stderr.trim()}`;
    }, 30_000, 'aweb to reach plainbox by name');

    // The network cannot go while the container is on it (as under Swarm).
    await cli('service', 'rm', 'aweb');
    await waitFor(async () => !(await bed.client.listTasks()).some((t) => t.serviceName === 'aweb') || 'aweb tasks still listed', 60_000, 'aweb to go');
    const refused = await bed.cli('network', 'rm', 'attnet');
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /1 container\(s\) attached \(plainbox on h1\)/);
    await docker('rm', '-f', 'plainbox');
    await waitFor(async () => (await bed.cli('network', 'rm', 'attnet')).code === 0 || 'attnet still refuses removal', 30_000, 'attnet to be removable');
  });
});
