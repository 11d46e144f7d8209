import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkMap } from '../../api/network.ts';
import { silentLogger } from '../../lib/logger.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { NET_A, NET_B, mapNetwork, sampleMap } from '../../testing/network-map-fixture.ts';
import { kernelBridges } from './bridges.ts';
import { DataPlane } from './data-plane.ts';
import { FakeKernel } from './fake-kernel.ts';
import type { LocalNetwork } from './local-network.ts';
import { bridgeName, endpointChain, serviceChain, vxlanName } from './names.ts';

function setup(): { plane: DataPlane; clock: FakeClock; k: FakeKernel; dns: Array<{ map: NetworkMap; local: readonly LocalNetwork[] }> } {
  const clock = new FakeClock();
  const k = new FakeKernel();
  k.addLink('eth0', {});
  const dns: Array<{ map: NetworkMap; local: readonly LocalNetwork[] }> = [];
  const plane = new DataPlane({
    clock,
    logger: silentLogger,
    nodeId: 'n1',
    underlay: { addr: '10.198.0.11', dev: 'eth0', mtu: 1500 },
    bridges: kernelBridges(k),
    runner: k,
    dns: { update: async (map, local) => void dns.push({ map, local }) },
  });
  return { plane, clock, k, dns };
}

/** Lets the debounce pass and the reconcile finish. */
async function settle(plane: DataPlane, clock: FakeClock): Promise<void> {
  await clock.advance(25);
  await plane.whenIdle();
}

describe('DataPlane', () => {
  it('applies nothing before the first map, then makes bridges and devices and resolves waiters', async () => {
    const { plane, clock, k, dns } = setup();
    plane.start();
    await settle(plane, clock);
    assert.equal(k.commands.length, 0, 'an agent restart must not sweep before it knows the map');

    const waiting = plane.waitForNetwork(NET_A.id, new AbortController().signal);
    plane.setMap(sampleMap());
    await settle(plane, clock);
    const n = await waiting;
    assert.deepEqual([n.bridge, n.gateway, n.mtu], [bridgeName(NET_A.id), '10.10.1.1', 1450]);
    assert.deepEqual(k.links.get(bridgeName(NET_A.id))?.addrs, ['10.10.1.1/16']);
    assert.ok(k.links.has(vxlanName(NET_A.id)));
    assert.equal(plane.localNetworks().length, 3);
    assert.equal(dns.at(-1)?.local.length, 3);
    // Already there: resolves at once.
    assert.equal((await plane.waitForNetwork(NET_A.id, new AbortController().signal)).id, NET_A.id);
    await plane.stop();
  });

  it('hands tasks the Docker network name the bridges report in use (a former one while it has users)', async () => {
    const clock = new FakeClock();
    const k = new FakeKernel();
    k.addLink('eth0', {});
    const kernel = kernelBridges(k);
    const bridges = { ...kernel, ensure: async (n: LocalNetwork) => ((await kernel.ensure(n)) ?? (n.id === NET_A.id ? 'flt-former' : undefined)) };
    const plane = new DataPlane({ clock, logger: silentLogger, nodeId: 'n1', underlay: { addr: '10.198.0.11', dev: 'eth0', mtu: 1500 }, bridges, runner: k });
    plane.start();
    plane.setMap(sampleMap());
    await settle(plane, clock);
    assert.equal((await plane.waitForNetwork(NET_A.id, new AbortController().signal)).dockerNetwork, 'flt-former');
    assert.notEqual((await plane.waitForNetwork(NET_B.id, new AbortController().signal)).dockerNetwork, 'flt-former');
    await plane.stop();
  });

  it('ignores an older map, rejects a wait on abort, on an encrypted network and on stop', async () => {
    const { plane, clock } = setup();
    plane.start();
    plane.setMap(sampleMap(5));
    await settle(plane, clock);
    const older = sampleMap(4);
    older.networks = [];
    plane.setMap(older);
    await settle(plane, clock);
    assert.equal(plane.localNetworks().length, 3);

    const ac = new AbortController();
    const aborted = plane.waitForNetwork('nope', ac.signal);
    ac.abort(new Error('task stopped'));
    await assert.rejects(aborted, /task stopped/);

    const enc = mapNetwork('eeeeeeeeeeee', '10.30.0.0/16', 7, { encrypted: true });
    const map = sampleMap(6);
    map.networks.push(enc);
    plane.setMap(map);
    await assert.rejects(plane.waitForNetwork(enc.id, new AbortController().signal), /encrypted/);

    const pending = plane.waitForNetwork('later', new AbortController().signal);
    await plane.stop();
    await assert.rejects(pending, /stopped/);
  });

  it('takes a gone endpoint out at once and keeps it out until a map without it arrives', async () => {
    const { plane, clock, k } = setup();
    plane.start();
    plane.setMap(sampleMap(1));
    await settle(plane, clock);
    const sep = endpointChain('svcweb', NET_A.id, 't3');
    assert.ok(k.tables.get('nat')?.has(sep));

    void plane.endpointGone('t3');
    await settle(plane, clock);
    assert.ok(!k.tables.get('nat')?.has(sep));
    assert.equal(k.tables.get('nat')?.get(serviceChain('svcweb', NET_A.id))?.length, 2);
    assert.ok(k.ran('conntrack').some((c) => c.argv.includes('10.10.2.2')));

    plane.setMap(sampleMap(2)); // computed before the manager heard: still lists t3
    await settle(plane, clock);
    assert.ok(!k.tables.get('nat')?.has(sep));

    const without = sampleMap(3);
    for (const s of without.services) s.endpoints = s.endpoints.filter((e) => e.taskId !== 't3');
    plane.setMap(without);
    await settle(plane, clock);
    plane.setMap(sampleMap(4)); // t3 back (say, a restart of the same task): served again
    await settle(plane, clock);
    assert.ok(k.tables.get('nat')?.has(sep));
    await plane.stop();
  });

  it('endpointGone resolves once the rules without the task are applied, at once when they already lack it', async () => {
    const { plane, clock, k, dns } = setup();
    const sep = endpointChain('svcweb', NET_A.id, 't1');
    // Not running yet: nothing to wait for.
    await plane.endpointGone('t1');
    plane.start();
    plane.setMap(sampleMap(1));
    await settle(plane, clock);

    let done = false;
    const gone = plane.endpointGone('t1').then(() => (done = true));
    await clock.advance(0);
    assert.equal(done, false, 'waits for the apply');
    assert.ok(k.tables.get('nat')?.has(sep));
    await settle(plane, clock);
    await gone;
    assert.ok(!k.tables.get('nat')?.has(sep), 'resolved after the rules lost it');
    assert.ok(!dns.at(-1)?.map.services[0]?.endpoints.some((e) => e.taskId === 't1'), 'and DNS');

    const before = k.commands.length;
    await plane.endpointGone('t1');
    await plane.endpointGone('t9');
    assert.equal(k.commands.length, before, 'already out (or never in): no apply, no wait');
    await plane.stop();
  });

  it('endpointGone during a reconcile that is installing the task waits for the next apply, which drops it', async () => {
    const clock = new FakeClock();
    const k = new FakeKernel();
    k.addLink('eth0', {});
    // Holds the next iptables-restore until released: a reconcile in flight.
    let gate: { reached: () => void; release: Promise<void> } | undefined;
    const runner = {
      writeSysctls: (e: ReadonlyArray<readonly [string, string]>) => k.writeSysctls(e),
      run: async (argv: readonly string[], stdin?: string) => {
        const g = gate;
        if (g !== undefined && argv[0] === 'iptables-restore') {
          gate = undefined;
          g.reached();
          await g.release;
        }
        return k.run(argv, stdin);
      },
    };
    const plane = new DataPlane({ clock, logger: silentLogger, nodeId: 'n1', underlay: { addr: '10.198.0.11', dev: 'eth0', mtu: 1500 }, bridges: kernelBridges(k), runner });
    const sep = endpointChain('svcweb', NET_A.id, 't1');
    const without = sampleMap(1);
    for (const s of without.services) s.endpoints = s.endpoints.filter((e) => e.taskId !== 't1');
    plane.start();
    plane.setMap(without);
    await settle(plane, clock);
    assert.equal(await plane.endpointGone('t1'), false, 'never served: nothing to wait for');

    let release!: () => void;
    const reached = new Promise<void>((resolve) => {
      gate = { reached: resolve, release: new Promise<void>((r) => (release = r)) };
    });
    plane.setMap(sampleMap(2)); // lists t1: the reconcile about to apply installs it
    await clock.advance(25);
    await reached;
    let result: boolean | undefined;
    const gone = plane.endpointGone('t1').then((r) => (result = r));
    release();
    await settle(plane, clock);
    await settle(plane, clock);
    await gone;
    assert.equal(result, true, 'it may have been served: the drain applies');
    assert.ok(!k.tables.get('nat')?.has(sep), 'the next apply took it out again');
    await plane.stop();
  });

  it('holds out only a task the map lists: one already dropped by the manager is served again when a map lists it', async () => {
    const { plane, clock, k } = setup();
    const sep = endpointChain('svcweb', NET_A.id, 't2');
    const without = sampleMap(1);
    for (const s of without.services) s.endpoints = s.endpoints.filter((e) => e.taskId !== 't2');
    plane.start();
    plane.setMap(without);
    await settle(plane, clock);
    await plane.endpointGone('t2'); // say, a stop after the manager's map dropped it
    plane.setMap(sampleMap(2)); // the same task listed again: nothing keeps it out
    await settle(plane, clock);
    assert.ok(k.tables.get('nat')?.has(sep));
    await plane.stop();
  });

  it('answers endpointGone callers when it stops', async () => {
    const { plane, clock } = setup();
    plane.start();
    plane.setMap(sampleMap(1));
    await settle(plane, clock);
    const gone = plane.endpointGone('t1');
    await plane.stop();
    await gone;
  });

  it('applies a membership change as rules only (and hairpin on a new port), devices again on the resync', async () => {
    const { plane, clock, k } = setup();
    plane.start();
    plane.setMap(sampleMap(1));
    await settle(plane, clock);
    const before = k.commands.length;
    k.addLink('veth-new', { master: bridgeName(NET_A.id) });
    void plane.endpointGone('t1');
    await settle(plane, clock);
    const fast = k.commands.slice(before).map((c) => c.argv.join(' '));
    assert.deepEqual(fast.filter((c) => !c.startsWith('conntrack')), ['ip -j -d link show', 'iptables-save', 'bridge -force -batch -', 'iptables-restore -w 5 --noflush']);
    assert.equal(k.links.get('veth-new')?.hairpin, true);

    const mark = k.commands.length;
    await clock.advance(30_000);
    await plane.whenIdle();
    const resync = k.commands.slice(mark).map((c) => c.argv.join(' '));
    assert.ok(resync.includes(`ip -j addr show dev ${bridgeName(NET_A.id)}`), resync.join('\n'));
    assert.ok(resync.includes('ip -j route show'));
    await plane.stop();
  });

  it('removes a network that left the map: its bridge, its VXLAN device; stop leaves the rest in place', async () => {
    const { plane, clock, k } = setup();
    plane.start();
    plane.setMap(sampleMap(1));
    await settle(plane, clock);
    const map = sampleMap(2);
    map.networks = map.networks.filter((n) => n.id !== NET_B.id);
    plane.setMap(map);
    await settle(plane, clock);
    assert.ok(!k.links.has(bridgeName(NET_B.id)));
    assert.ok(!k.links.has(vxlanName(NET_B.id)));
    const rules = k.ruleCount();
    await plane.stop();
    assert.ok(k.links.has(bridgeName(NET_A.id)));
    assert.equal(k.ruleCount(), rules);
  });

  it('re-applies every 30 s, and a restarted data plane re-applies the same state without changes', async () => {
    const { plane, clock, k } = setup();
    plane.start();
    plane.setMap(sampleMap(1));
    await settle(plane, clock);
    const restores = k.ran('iptables-restore').length;
    await clock.advance(30_000);
    await plane.whenIdle();
    assert.equal(k.ran('iptables-restore').length, restores + 1);
    await plane.stop();

    const rules = k.ruleCount();
    const save = (await k.run(['iptables-save'])).stdout;
    const again = new DataPlane({ clock, logger: silentLogger, nodeId: 'n1', underlay: { addr: '10.198.0.11', dev: 'eth0', mtu: 1500 }, bridges: kernelBridges(k), runner: k });
    again.start();
    again.setMap(sampleMap(1));
    await settle(again, clock);
    assert.equal(k.ruleCount(), rules);
    assert.equal((await k.run(['iptables-save'])).stdout, save);
    await again.stop();
  });
});
