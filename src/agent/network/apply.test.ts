import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { silentLogger } from '../../lib/logger.ts';
import { NET_A, NET_B, endpoint, sampleMap } from '../../testing/network-map-fixture.ts';
import { Applier } from './apply.ts';
import { FakeKernel } from './fake-kernel.ts';
import { bridgeName, vxlanName } from './names.ts';
import { planHost } from './plan.ts';

const UNDERLAY = { addr: '10.198.0.11', dev: 'eth0', mtu: 1500 };
const A_VX = vxlanName(NET_A.id);

function kernel(): FakeKernel {
  const k = new FakeKernel();
  k.addLink('eth0', {});
  for (const n of sampleMap().networks) k.addLink(bridgeName(n.id), { kind: 'bridge' });
  return k;
}

describe('Applier', () => {
  it('programs a plan in one batch per tool and one iptables-restore, and a second apply changes nothing', async () => {
    const k = kernel();
    k.addLink('veth-t1', { master: bridgeName(NET_A.id) });
    const applier = new Applier({ runner: k, logger: silentLogger });
    const plan = planHost({ map: sampleMap(), nodeId: 'n1', underlay: UNDERLAY });
    assert.deepEqual((await applier.apply(plan)).errors, []);
    assert.equal(k.ran('ip', '-force', '-batch', '-').length, 1); // nothing stale: no deletion batch
    assert.equal(k.ran('bridge', '-force', '-batch', '-').length, 1);
    assert.equal(k.ran('iptables-restore').length, 1);
    assert.equal(k.links.get(A_VX)?.info?.['id'], 0x100001);
    assert.equal(k.neighbours.get(`10.10.2.0|${A_VX}`), '02:f1:0a:c6:00:0c');
    assert.equal(k.routes.get(`10.10.2.0/24|${A_VX}`), '10.10.2.0');
    assert.ok(k.routes.has('10.10.0.0/24|flt-vip'));
    assert.ok(k.fdb.has(`02:f1:0a:c6:00:0c|${A_VX}|10.198.0.12`));
    assert.equal(k.links.get('veth-t1')?.hairpin, true);
    assert.equal(k.sysctls.get(`net/ipv4/conf/${A_VX}/rp_filter`), '2');
    const rules = k.ruleCount();
    const save = (await k.run(['iptables-save'])).stdout;

    const before = k.commands.length;
    assert.deepEqual((await applier.apply(plan)).errors, []);
    const second = k.commands.slice(before);
    assert.ok(!second.some((c) => /link add|link del/.test(c.stdin ?? '')), 'no device is made or deleted again');
    assert.equal(k.ruleCount(), rules);
    assert.equal((await k.run(['iptables-save'])).stdout, save);
  });

  it('removes what left: a remote node’s entries, a network’s VXLAN device, stale chains; a fresh applier sweeps leftovers', async () => {
    const k = kernel();
    const plan = planHost({ map: sampleMap(), nodeId: 'n1', underlay: UNDERLAY });
    await new Applier({ runner: k, logger: silentLogger }).apply(plan);
    const rules = k.ruleCount();

    // A new agent (restart) with a map where n2 left network a and network b is gone.
    const map = sampleMap(2);
    map.networks = map.networks.filter((n) => n.id !== 'bbbbbbbbbbbbbbbb').map((n) => (n.id === NET_A.id ? { ...n, slices: n.slices.filter((s) => s.nodeId === 'n1') } : n));
    map.services = map.services.filter((s) => s.id !== 'svcdb');
    const applier = new Applier({ runner: k, logger: silentLogger });
    assert.deepEqual((await applier.apply(planHost({ map, nodeId: 'n1', underlay: UNDERLAY }))).errors, []);
    assert.ok(!k.links.has(vxlanName('bbbbbbbbbbbbbbbb')));
    assert.ok(!k.routes.has(`10.10.2.0/24|${A_VX}`));
    assert.ok(!k.neighbours.has(`10.10.2.0|${A_VX}`));
    assert.ok(![...k.fdb].some((f) => f.includes(`|${A_VX}|`)));
    assert.ok(!k.routes.has('10.20.0.0/24|flt-vip'));
    assert.ok(k.ruleCount() < rules);
  });

  it('deletes the UDP conntrack entries of endpoints that left; without conntrack it says so once and goes on', async () => {
    const k = kernel();
    const applier = new Applier({ runner: k, logger: silentLogger });
    await applier.apply(planHost({ map: sampleMap(), nodeId: 'n1', underlay: UNDERLAY }));
    await applier.apply(planHost({ map: sampleMap(2), nodeId: 'n1', underlay: UNDERLAY, goneTasks: new Set(['t3']) }));
    assert.deepEqual(
      k.ran('conntrack').map((c) => c.argv),
      [['conntrack', '-D', '-p', 'udp', '--orig-dst', '10.10.0.2', '--reply-src', '10.10.2.2']],
    );

    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (l: string) => lines.push(l) });
    const bare = kernel();
    bare.missing.add('conntrack');
    const quiet = new Applier({ runner: bare, logger });
    await quiet.apply(planHost({ map: sampleMap(), nodeId: 'n1', underlay: UNDERLAY }));
    const report = await quiet.apply(planHost({ map: sampleMap(2), nodeId: 'n1', underlay: UNDERLAY, goneTasks: new Set(['t1', 't2', 't3']) }));
    assert.deepEqual(report.errors, []);
    assert.equal(bare.ran('conntrack').length, 1);
    assert.equal(lines.filter((l) => l.includes('conntrack')).length, 1);
  });

  it('deletes UDP entries to a VIP without endpoints once it gets some (they would bypass the new DNAT)', async () => {
    const k = kernel();
    const applier = new Applier({ runner: k, logger: silentLogger });
    await applier.apply(planHost({ map: sampleMap(), nodeId: 'n1', underlay: UNDERLAY }));
    const map = sampleMap(2);
    const db = map.services.find((s) => s.id === 'svcdb');
    db?.endpoints.push(endpoint('d1', 'n2', [NET_B.id, '10.20.2.2/16']));
    await applier.apply(planHost({ map, nodeId: 'n1', underlay: UNDERLAY }));
    assert.deepEqual(k.ran('conntrack').map((c) => c.argv), [['conntrack', '-D', '-p', 'udp', '--orig-dst', '10.20.0.2']]);
  });

  it('reports what the kernel refused, by the batch line', async () => {
    const k = new FakeKernel(); // no eth0, no bridges: devices and sysctls fail
    const report = await new Applier({ runner: k, logger: silentLogger }).apply(planHost({ map: sampleMap(), nodeId: 'n1', underlay: UNDERLAY }));
    assert.ok(report.errors.some((e) => e.startsWith(`sysctl net/ipv4/conf/${bridgeName(NET_A.id)}/proxy_arp`)), report.errors.join('\n'));
  });
});
