/**
 * TEMPORARY (ws-attach): issue #9's exec ↔ container and attachable-network scenarios on a bed
 * of their own (flt-x, 10.199.6) while networking.test.ts's bed is in use by another engineer.
 * The `it` blocks are the ones added to networking.test.ts; the helpers are copied from it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Network } from '../../src/api/network.ts';
import type { Task } from '../../src/api/task.ts';
import { cidr, contains, parseIp } from '../../src/lib/cidr.ts';
import { containerRange } from '../../src/api/network.ts';
import { BED_IMAGE, TestBed } from './bed.ts';
import { execInContainer, type ExecResult } from './container-exec.ts';
import { run } from './proc.ts';
import { bedSkipReason } from './skip.ts';
import { waitFor } from './wait.ts';

const skip = await bedSkipReason();
const PREFIX = 'flt-x';
const SUBNET = '10.199.6';
const HTTPD = ['sh', '-c', 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www'];
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

describe('exec tasks and plain containers on overlay networks (issue #9) on the multi-host test bed', { skip, timeout: 1_200_000 }, () => {
  let bed: TestBed;

  before(async () => {
    bed = await TestBed.create({ hosts: 3, prefix: PREFIX, subnet: SUBNET, exec: true });
    await Promise.all(bed.hosts.map((h) => bed.waitReady(h.name)));
  });
  after(async () => {
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

  async function execIn(task: Task, argv: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
    const host = hostOf(task, await nodeNames());
    const id = task.status.containerId;
    assert.ok(id, `task ${task.id} has a container`);
    return execInContainer(bed.host(host).engine.docker, id, argv, timeoutMs);
  }

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

  // ---- the scenarios (as in networking.test.ts) ----

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
