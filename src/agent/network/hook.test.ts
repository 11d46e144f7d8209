import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TaskNetwork } from '../../api/network.ts';
import type { Task, TaskStatus } from '../../api/task.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { makeTask } from '../../testing/fixtures.ts';
import { FakeDriver } from '../drivers/fake/fake-driver.ts';
import { FakeHost } from '../drivers/fake/fake-host.ts';
import { isTaskHookError, type TaskHook } from '../executor/hooks.ts';
import { TaskRunner } from '../executor/task-runner.ts';
import { addressEntries, networkHook, resolvConfPath, restoreAddresses } from './hook.ts';
import { HostIpam } from './ipam.ts';
import type { LocalNetwork, NetworkSource } from './local-network.ts';
import { bridgeName, dockerNetworkName, vxlanName } from './names.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

function local(id: string, third: number, slice = 3): LocalNetwork {
  return {
    id, name: `net-${id}`, subnet: `10.${third}.0.0/16`, prefix: 16, slice: `10.${third}.${slice}.0/24`, gateway: `10.${third}.${slice}.1`,
    vtep: `10.${third}.${slice}.0`, bridge: bridgeName(id), vxlan: vxlanName(id), mtu: 1450, vni: 0x100001, internal: false, ingress: false, encrypted: false,
    attachable: false, dockerNetwork: dockerNetworkName(id),
  };
}

/** A data plane stand-in: networks present at once, or released by `arrive`. */
class FakeSource implements NetworkSource {
  readonly #have = new Map<string, LocalNetwork>();
  readonly #waiting = new Map<string, Array<(n: LocalNetwork) => void>>();
  add(n: LocalNetwork): void {
    this.#have.set(n.id, n);
    for (const w of this.#waiting.get(n.id) ?? []) w(n);
    this.#waiting.delete(n.id);
  }
  endpointGone(): Promise<boolean> {
    return Promise.resolve(false);
  }
  waitForNetwork(networkId: string, signal: AbortSignal): Promise<LocalNetwork> {
    const n = this.#have.get(networkId);
    if (n) return Promise.resolve(n);
    return new Promise((resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      const list = this.#waiting.get(networkId) ?? [];
      list.push(resolve);
      this.#waiting.set(networkId, list);
    });
  }
}

/** Lets real file I/O and fake timers run until `done()` holds (bounded: a hang fails, no fixed sleep). */
async function until(clock: FakeClock, done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 30_000 && !done(); i++) {
    await clock.advance(0);
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.ok(done(), `still waiting for ${what}`);
}

const attachment = (networkId: string): TaskNetwork => ({ networkId, name: `net-${networkId}`, aliases: [] });

async function setup(options: { waitTimeoutMs?: number } = {}) {
  const runtimeDir = await mkdtemp(join(tmpdir(), 'flotilla-nethook-'));
  dirs.push(runtimeDir);
  const clock = new FakeClock();
  const source = new FakeSource();
  const ipam = new HostIpam();
  const hook = networkHook({ source, ipam, runtimeDir, clock, logger: silentLogger }, options);
  return { runtimeDir, clock, source, ipam, hook };
}

const prestart = (hook: TaskHook, task: Task, signal = new AbortController().signal) => hook.prestart!(task, { prepared: {}, signal });

void describe('networkHook', () => {
  it('attaches a task to its networks in order, writes its resolv.conf, and undoes both at poststop', async () => {
    const { runtimeDir, source, ipam, hook } = await setup();
    source.add(local('front', 1));
    source.add(local('back', 2, 7));
    const task = makeTask({ id: 'task1', nodeId: 'n1' });
    const out = await prestart(hook, { ...task, networks: [attachment('front'), attachment('back')] });
    const path = resolvConfPath(runtimeDir, 'task1');
    assert.deepEqual(out, {
      networks: [
        { networkId: 'front', dockerNetwork: 'flt-front', bridge: 'flb-front', address: '10.1.3.2/16', ip: '10.1.3.2', gateway: '10.1.3.1', mtu: 1450 },
        { networkId: 'back', dockerNetwork: 'flt-back', bridge: 'flb-back', address: '10.2.7.2/16', ip: '10.2.7.2', gateway: '10.2.7.1', mtu: 1450 },
      ],
      resolvConf: path,
    });
    assert.match(await readFile(path, 'utf8'), /^nameserver 10\.1\.3\.1$/m);
    assert.deepEqual(ipam.networksOf('10.2.7.2'), ['front', 'back']);
    // Prepared again (a retry): same addresses.
    assert.deepEqual((await prestart(hook, { ...task, networks: [attachment('front'), attachment('back')] }))?.networks?.map((n) => n.ip), ['10.1.3.2', '10.2.7.2']);
    await hook.poststop!('task1');
    await hook.poststop!('task1');
    await hook.poststop!('never-seen');
    assert.deepEqual(ipam.entries(), []);
    await assert.rejects(stat(path), { code: 'ENOENT' });
    await assert.rejects(stat(join(runtimeDir, 'tasks', 'task1')), { code: 'ENOENT' });
  });

  it('leaves a task without networks alone', async () => {
    const { hook, ipam } = await setup();
    assert.equal(await prestart(hook, makeTask({ nodeId: 'n1' })), undefined);
    assert.equal(await prestart(hook, { ...makeTask({ nodeId: 'n1' }), networks: [] }), undefined);
    assert.deepEqual(ipam.entries(), []);
  });

  it('waits for a network to reach the node, up to the timeout', async () => {
    const { clock, source, hook } = await setup({ waitTimeoutMs: 5_000 });
    const early = prestart(hook, { ...makeTask({ id: 'late1', nodeId: 'n1' }), networks: [attachment('slow')] });
    await clock.advance(1_000);
    source.add(local('slow', 9));
    assert.equal((await early)?.networks?.[0]?.ip, '10.9.3.2');
    const never = prestart(hook, { ...makeTask({ id: 'late2', nodeId: 'n1' }), networks: [attachment('absent')] });
    const failed = assert.rejects(never, (e) => isTaskHookError(e) && e.hook === 'network' && /^network net-absent has no address range on this node yet/.test(e.message));
    await clock.advance(5_000);
    await failed;
  });

  it('gives up at once when the agent stops, without the timeout message', async () => {
    const { hook } = await setup();
    const ac = new AbortController();
    const p = prestart(hook, { ...makeTask({ nodeId: 'n1' }), networks: [attachment('absent')] }, ac.signal);
    ac.abort(new Error('agent stopping'));
    await assert.rejects(p, /agent stopping/);
  });

  it('a full slice rejects the task with the IPAM’s message', async () => {
    const { source, ipam, hook } = await setup();
    source.add({ ...local('tiny', 5), subnet: '10.5.0.0/24', prefix: 24, slice: '10.5.0.16/28', gateway: '10.5.0.17' });
    for (let i = 0; i < 13; i++) ipam.reserve('tiny', '10.5.0.16/28', `other${i}`);
    await assert.rejects(
      prestart(hook, { ...makeTask({ nodeId: 'n1' }), networks: [attachment('tiny')] }),
      (e) => isTaskHookError(e) && e.message === "no free address in this node's slice 10.5.0.16/28 of network net-tiny",
    );
  });
});

void describe('the task runner with the network hook', () => {
  async function world() {
    const s = await setup();
    s.source.add(local('front', 1));
    s.source.add(local('back', 2));
    const host = new FakeHost();
    const reports: Array<[string, TaskStatus]> = [];
    const deps = (driver: FakeDriver) => ({ driver, clock: s.clock, logger: silentLogger, hooks: [s.hook], report: (id: string, st: TaskStatus) => reports.push([id, st]) });
    return { ...s, host, reports, deps };
  }
  const task = (env: string[] = []): Task => {
    const base = makeTask({ id: 'web1', nodeId: 'n1', status: { state: 'assigned' } });
    return { ...base, networks: [attachment('front'), attachment('back')], spec: { ...base.spec, driver: 'fake', container: { ...base.spec.container, env } } };
  };
  const addresses = [{ networkId: 'front', addr: '10.1.3.2/16' }, { networkId: 'back', addr: '10.2.3.2/16' }];

  it('reports the task’s addresses in every status from starting on', async () => {
    const { clock, host, reports, deps } = await world();
    new TaskRunner(deps(new FakeDriver({ nodeId: 'n1', clock, host })), task(['FAKE_RUN_MS=100']));
    await until(clock, () => reports.at(-1)?.[1].state === 'running', 'running');
    await clock.advance(100);
    assert.deepEqual(reports.map(([, s]) => s.state), ['accepted', 'preparing', 'starting', 'running', 'complete']);
    assert.deepEqual(reports.map(([, s]) => s.networks), [undefined, undefined, addresses, addresses, addresses]);
  });

  it('after an agent restart: addresses restored into the IPAM and reported for the adopted task', async () => {
    const { clock, host, reports, deps, ipam, hook } = await world();
    const t = task();
    const first = new TaskRunner(deps(new FakeDriver({ nodeId: 'n1', clock, host })), t);
    await until(clock, () => reports.at(-1)?.[1].state === 'running', 'running');
    await first.halt();
    ipam.release('web1'); // the agent's memory is gone with the restart
    const driver = new FakeDriver({ nodeId: 'n1', clock, host });
    const recovered = await driver.recover();
    assert.deepEqual(addressEntries(recovered), [{ taskId: 'web1', networkId: 'front', ip: '10.1.3.2' }, { taskId: 'web1', networkId: 'back', ip: '10.2.3.2' }]);
    assert.equal(await restoreAddresses(ipam, [driver], silentLogger), 2);
    // A new task does not get the adopted one's address.
    const other = await prestart(hook, { ...makeTask({ id: 'web2', nodeId: 'n1' }), networks: [attachment('front')] });
    assert.equal(other?.networks?.[0]?.ip, '10.1.3.3');
    // The store says `starting` (the `running` report was lost): the adopted task reports running with its addresses.
    reports.length = 0;
    const stored = { ...t, status: { state: 'starting' as const, message: 'starting', timestamp: new Date(0).toISOString() } };
    new TaskRunner(deps(driver), stored, recovered[0]);
    await until(clock, () => reports.length > 0, 'a report');
    assert.deepEqual(reports.map(([, s]) => [s.state, s.networks]), [['running', addresses]]);
  });

  it('a task the driver cannot prepare gives its addresses back', async () => {
    const { clock, host, reports, deps, ipam } = await world();
    new TaskRunner(deps(new FakeDriver({ nodeId: 'n1', clock, host })), task(['FAKE_PREPARE_ERROR=no image']));
    await until(clock, () => reports.at(-1)?.[1].state === 'rejected', 'rejected');
    await until(clock, () => ipam.entries().length === 0, 'addresses released');
    assert.equal(reports.at(-1)?.[1].state, 'rejected');
    assert.equal(reports.at(-1)?.[1].networks, undefined);
    assert.deepEqual(ipam.entries(), []);
  });
});
