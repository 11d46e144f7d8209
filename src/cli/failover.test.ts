/**
 * Two real managers on one etcd, each following a leadership the test flips by hand (A leads,
 * B follows, then the other way): a real agent (wss, mutual TLS, joined with a token) sent on
 * by the follower to the leader and moving to the new leader on its own; the CLI failing over
 * from a dead address to a live manager; `flotilla events` taking its stream up again on
 * another manager after the last revision it printed.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClusterEvent } from '../api/event.ts';
import type { ManagerEntry } from '../api/managers.ts';
import { NodeAgent } from '../agent/boot.ts';
import { FakeHost } from '../agent/drivers/fake/fake-host.ts';
import { MANAGERS_FILE } from '../agent/managers-file.ts';
import { FlotillaClient } from '../client/client.ts';
import { systemClock } from '../lib/clock.ts';
import { silentLogger } from '../lib/logger.ts';
import { skipUnlessEtcd, startEtcd, type EtcdTestCluster } from '../testing/etcd-server.ts';
import { makeServiceSpec } from '../testing/fixtures.ts';
import { FlippedLeadership } from '../testing/flipped-leadership.ts';
import { Manager } from '../manager/manager.ts';
import { run } from './main.ts';
import { storeBackend } from './store-flag.ts';

/** Resolves `p`, or fails naming `what` after a timeout that only catches hangs. */
function within<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** A loopback port that nobody listens on (listened on a moment ago, then closed). */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

void describe('several managers on one etcd: agents and clients follow the leader', { skip: skipUnlessEtcd() }, () => {
  let etcd: EtcdTestCluster;
  let dir: string;
  const la = new FlippedLeadership('leader');
  const lb = new FlippedLeadership('follower');
  let a: Manager;
  let b: Manager;
  /** `host:port` of each manager's HTTPS listener. */
  let addrA: string;
  let addrB: string;
  let node: NodeAgent | undefined;

  const https = (m: Manager): string => {
    const url = m.addresses.find((x) => x.startsWith('https://'));
    assert.ok(url, 'an HTTPS listener');
    return url.slice('https://'.length);
  };
  /** Both leaderships report the same members, `leader` marked. */
  const members = (leader: string): void => {
    const list: ManagerEntry[] = [
      { id: 'mgr-a', addr: addrA, leader: leader === addrA },
      { id: 'mgr-b', addr: addrB, leader: leader === addrB },
    ];
    la.setMembers(list);
    lb.setMembers(list);
  };

  before(async () => {
    [etcd, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'flotilla-failover-'))]);
    const backend = await storeBackend({ store: `etcd://${etcd.endpoints.join(',')}/failover-test` });
    assert.ok(backend);
    const manager = (name: string, leadership: FlippedLeadership): Manager =>
      new Manager(
        { clock: systemClock, logger: silentLogger },
        { dataDir: join(dir, name), backend, leadership: async () => leadership, tls: { listen: { host: '127.0.0.1', port: 0 }, advertiseAddr: '127.0.0.1' } },
      );
    a = manager('a', la);
    await a.start();
    // A second manager of the cluster unwraps the CA key with the key-encryption key; until the
    // manager join token hands it over, the test copies it (and the admin credential) across.
    await mkdir(join(dir, 'b'), { recursive: true, mode: 0o700 });
    await cp(join(dir, 'a', 'kek.key'), join(dir, 'b', 'kek.key'));
    await cp(join(dir, 'a', 'admin'), join(dir, 'b', 'admin'), { recursive: true });
    b = manager('b', lb);
    await b.start();
    addrA = https(a);
    addrB = https(b);
    members(addrA);
  });
  after(async () => {
    await node?.stop();
    await b?.stop();
    await a?.stop();
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  void it('an agent pointed at the follower ends up on the leader, knowing both', async () => {
    const [host, port] = addrB.split(':') as [string, string];
    node = await NodeAgent.create(
      { clock: systemClock, logger: silentLogger },
      { dataDir: join(dir, 'node'), link: { transport: 'wss', manager: { host, port: Number(port) }, token: a.joinTokens().worker }, drivers: { kind: 'fake', host: new FakeHost() }, metrics: { host: '127.0.0.1', port: 0 } },
    );
    await node.start();
    await within(node.welcomed, 'the first welcome');
    assert.equal(node.managers?.attachedTo, addrA, 'the follower sent it on to the leader');
    assert.deepEqual([...(node.managers?.addresses ?? [])].sort(), [addrA, addrB].sort());
    assert.equal(a.store.nodes.get(node.nodeId)?.status.state, 'ready');
  });

  void it('the agent moves to the new leader on its own when the leader changes, and keeps the list on disk', async () => {
    assert.ok(node);
    const welcomedAgain = node.agent.welcomed();
    lb.set('leader');
    members(addrB);
    la.set('follower');
    await within(welcomedAgain, 'a welcome from the new leader');
    assert.equal(node.managers?.attachedTo, addrB);
    const saved = JSON.parse(await readFile(join(dir, 'node', MANAGERS_FILE), 'utf8')) as { managers: string[]; leader?: string };
    assert.deepEqual([...saved.managers].sort(), [addrA, addrB].sort());
    assert.equal(saved.leader, addrB);
    assert.ok(node.metricsUrl);
    const metrics = await (await fetch(node.metricsUrl)).text();
    assert.ok(metrics.includes(`flotilla_agent_manager_session{manager="${addrB}"} 1`), 'its /metrics says which manager it is attached to');
    assert.ok(!metrics.includes(`flotilla_agent_manager_session{manager="${addrA}"}`));
  });

  void it('the CLI fails over from a dead address to a live manager, says so, and keeps the one that answered', async () => {
    const home = join(dir, 'home');
    await mkdir(home, { recursive: true });
    const admin = JSON.parse(await readFile(join(dir, 'a', 'admin', 'context.json'), 'utf8')) as { ca: string; cert: string; key: string };
    const dead = `https://127.0.0.1:${await deadPort()}`;
    const ctx = { host: dead, hosts: [dead, `https://${addrB}`], ca: admin.ca, cert: admin.cert, key: admin.key };
    await writeFile(join(home, 'contexts.json'), JSON.stringify({ current: 'ha', contexts: { ha: ctx } }), { mode: 0o600 });
    let stdout = '';
    let stderr = '';
    const code = await run(['node', 'ls', '--format', 'json'], { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: (s: string) => (stderr += s) }, env: { FLOTILLA_HOME: home }, now: () => Date.now() });
    assert.equal(code, 0, stderr);
    assert.ok((JSON.parse(stdout) as Array<{ id: string }>).some((n) => n.id === node?.nodeId));
    assert.match(stderr, /ECONNREFUSED; using the manager at https:\/\/127\.0\.0\.1:\d+/);
    const saved = JSON.parse(await readFile(join(home, 'contexts.json'), 'utf8')) as { contexts: { ha: { host: string; hosts: string[]; managersCheckedAt?: string } } };
    assert.equal(saved.contexts.ha.host, `https://${addrB}`, 'the manager that answered is tried first next time');
    assert.ok(saved.contexts.ha.hosts.includes(dead), 'the dead address is kept: it may come back');
    assert.ok(saved.contexts.ha.managersCheckedAt, 'the list was refreshed after the failover');
  });

  void it('`flotilla events` and a `service scale` wait take their streams up on another manager after the last revision seen', async () => {
    const home = join(dir, 'home-events');
    await mkdir(home, { recursive: true });
    const admin = JSON.parse(await readFile(join(dir, 'a', 'admin', 'context.json'), 'utf8')) as { ca: string; cert: string; key: string };
    const ctx = { host: `https://${addrA}`, hosts: [`https://${addrA}`, `https://${addrB}`], ca: admin.ca, cert: admin.cert, key: admin.key };
    await writeFile(join(home, 'contexts.json'), JSON.stringify({ current: 'ha', contexts: { ha: ctx } }), { mode: 0o600 });
    const viaB = new FlotillaClient({ socketPath: b.socketPath });
    const ac = new AbortController();
    let stdout = '';
    let stderr = '';
    let onOut = (): void => {};
    const printed = (name: string): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (stdout.includes(`"name":"${name}"`)) resolve();
        };
        onOut = check;
        check();
      });
    // A service that cannot run until its node is labelled: `service scale` waits across the failover.
    await viaB.createService(
      makeServiceSpec({ name: 'waiter', replicas: 0, taskTemplate: { driver: 'fake', container: { image: 'fake' }, placement: { constraints: ['node.labels.ha==yes'] } } }),
    );
    let waitErr = '';
    let waitOut = '';
    let onWaitErr = (): void => {};
    const waitStarted = new Promise<void>((resolve) => (onWaitErr = resolve));
    const waiting = run(['service', 'scale', 'waiter=1', '--timeout', '2m'], {
      stdout: { write: (s: string) => (waitOut += s) },
      stderr: {
        write: (s: string) => {
          waitErr += s;
          onWaitErr();
        },
      },
      env: { FLOTILLA_HOME: home },
      now: () => Date.now(),
    });
    const since = a.store.revision;
    const running = run(['events', '--since', String(since), '--filter', 'type=service', '--format', 'json'], {
      stdout: {
        write: (s: string) => {
          stdout += s;
          onOut();
        },
      },
      stderr: { write: (s: string) => (stderr += s) },
      env: { FLOTILLA_HOME: home },
      now: () => Date.now(),
      signal: ac.signal,
    });
    await viaB.createService(makeServiceSpec({ name: 'before-failover' }));
    await within(printed('before-failover'), 'the first event from A');
    await within(waitStarted, 'the scale wait showing progress');
    await a.stop(); // its event streams end; the CLI commands go on with B
    await viaB.createService(makeServiceSpec({ name: 'after-failover' }));
    await within(printed('after-failover'), 'the event after the failover, from B');
    await viaB.updateNode(node!.nodeId, { labelsAdd: { ha: 'yes' } });
    assert.equal(await within(waiting, 'the scale wait to end'), 0, waitErr);
    assert.match(waitOut, /waiter scaled to 1/);
    assert.match(waitErr, /using the manager at https:\/\/127\.0\.0\.1:\d+/, 'the wait went on with the other manager');
    ac.abort();
    assert.equal(await running, 0, stderr);
    const events = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ClusterEvent);
    const names = events.map((e) => (e.kind === 'service' ? e.object.spec.name : '')).filter((n) => n !== 'waiter');
    assert.deepEqual(names, ['before-failover', 'after-failover'], 'each event printed once, in order');
    const revisions = events.map((e) => e.revision);
    assert.deepEqual(revisions, [...new Set(revisions)].sort((x, y) => x - y), 'no revision printed twice, none out of order');
    assert.match(stderr, /resuming after revision \d+/);
  });
});
