/**
 * Issue #9's acceptance scenarios on the multi-host test bed: overlay networks across 3 hosts,
 * service discovery by DNS, VIP load balancing, the routing mesh, isolation, stacks, and an
 * agent restart. The tests run in order and share the bed; each states what it leaves behind.
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
import type { Network } from '../../src/api/network.ts';
import type { Task } from '../../src/api/task.ts';
import { cidr, contains, parseIp } from '../../src/lib/cidr.ts';
import { BED_IMAGE, TestBed } from './bed.ts';
import { execInContainer, type ExecResult } from './container-exec.ts';
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

describe('overlay networks (issue #9) on the multi-host test bed', { skip, timeout: 1_200_000 }, () => {
  let bed: TestBed;
  let probe: Server;

  before(async () => {
    bed = await TestBed.create({ hosts: 3, prefix: PREFIX, subnet: SUBNET });
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
});
