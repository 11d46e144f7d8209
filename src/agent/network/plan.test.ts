import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkMap } from '../../api/network.ts';
import { NET_A, NET_B, NET_INGRESS, endpoint, mapNetwork, sampleMap, service } from '../../testing/network-map-fixture.ts';
import { bridgeName, endpointChain, ingressChain, serviceChain, vxlanName } from './names.ts';
import { planHost, restoreText, vtepMac, type HostPlan } from './plan.ts';

const UNDERLAY = { addr: '10.198.0.11', dev: 'eth0', mtu: 1500 };
const plan = (map: NetworkMap = sampleMap(), goneTasks?: ReadonlySet<string>): HostPlan =>
  planHost({ map, nodeId: 'n1', underlay: UNDERLAY, ...(goneTasks ? { goneTasks } : {}) });
const rules = (p: HostPlan, table: 'filter' | 'nat', chain: string): readonly string[] =>
  (table === 'filter' ? p.filter : p.nat).find((c) => c.name === chain)?.rules ?? [];

const A_BR = bridgeName(NET_A.id);
const A_VX = vxlanName(NET_A.id);
const B_BR = bridgeName(NET_B.id);
const ING_BR = bridgeName(NET_INGRESS.id);

describe('planHost', () => {
  it('derives each local network from the node slice: gateway .1, VTEP .0, MTU underlay − 50, names ≤ 15', () => {
    const p = plan();
    const a = p.networks.find((n) => n.id === NET_A.id);
    assert.deepEqual(
      { slice: a?.slice, gateway: a?.gateway, vtep: a?.vtep, prefix: a?.prefix, mtu: a?.mtu, bridge: a?.bridge, vxlan: a?.vxlan },
      { slice: '10.10.1.0/24', gateway: '10.10.1.1', vtep: '10.10.1.0', prefix: 16, mtu: 1450, bridge: 'flb-aaaaaaaaaa', vxlan: 'flx-aaaaaaaaaa' },
    );
    for (const n of p.networks) assert.ok(n.bridge.length <= 15 && n.vxlan.length <= 15);
  });

  it('plans one VXLAN device per network and one neighbour/FDB/route per remote slice', () => {
    const p = plan();
    const vx = p.vxlans.find((v) => v.name === A_VX);
    assert.deepEqual(vx, { name: A_VX, networkId: NET_A.id, vni: 0x100001, local: '10.198.0.11', dev: 'eth0', port: 4789, mac: '02:f1:0a:c6:00:0b', mtu: 1450, address: '10.10.1.0/32' });
    assert.deepEqual(
      p.remotes.filter((r) => r.vxlan === A_VX),
      [{ vxlan: A_VX, subnet: '10.10.2.0/24', vtep: '10.10.2.0', mac: vtepMac('10.198.0.12'), underlay: '10.198.0.12' }],
    );
    assert.equal(vtepMac('10.198.0.12'), '02:f1:0a:c6:00:0c');
    assert.deepEqual(p.vipRoutes, ['10.10.0.0/24', '10.20.0.0/24']);
  });

  it('leaves out a remote node whose underlay is unknown, and every VXLAN device without an underlay of its own', () => {
    const map = sampleMap();
    const netA = { ...NET_A, slices: NET_A.slices.map((s) => (s.nodeId === 'n2' ? { nodeId: s.nodeId, subnet: s.subnet } : s)) };
    assert.equal(plan({ ...map, networks: [netA] }).remotes.length, 0);
    const bare = planHost({ map, nodeId: 'n1', underlay: undefined });
    assert.deepEqual([bare.vxlans.length, bare.remotes.length], [0, 0]);
    assert.equal(bare.networks.length, 3);
  });

  it('takes DNS queries of plain containers on an attachable network (Docker\'s range only) to the agent on the gateway', () => {
    const map = sampleMap();
    const shared = { ...map, networks: map.networks.map((n) => (n.id === NET_A.id ? { ...n, attachable: true } : n)) };
    const p = plan(shared);
    const a = p.networks.find((n) => n.id === NET_A.id);
    assert.deepEqual([a?.attachable, a?.containerRange, a?.dockerNetwork], [true, '10.10.1.192/26', NET_A.name]);
    const dns = rules(p, 'nat', 'FLT-SERVICES').filter((r) => r.includes('--dport 53'));
    assert.deepEqual(dns, [
      `-s 10.10.1.192/26 ! -d ${NET_A.subnet} -i ${A_BR} -p udp --dport 53 -m comment --comment "${NET_A.name} containers DNS" -j DNAT --to-destination 10.10.1.1:53`,
      `-s 10.10.1.192/26 ! -d ${NET_A.subnet} -i ${A_BR} -p tcp --dport 53 -m comment --comment "${NET_A.name} containers DNS" -j DNAT --to-destination 10.10.1.1:53`,
    ]);
    // VIPs and published ports (an ingress port 53) first: the DNS rules only take what is left.
    const all = rules(p, 'nat', 'FLT-SERVICES');
    const firstDns = all.findIndex((r) => r.includes('containers DNS'));
    assert.ok(all.some((r) => r.includes('--dst-type LOCAL')) && all.some((r) => r.startsWith('-d ')));
    assert.ok(all.every((r, i) => r.includes('containers DNS') || i < firstDns), all.join('\n'));
    assert.deepEqual(rules(plan(), 'nat', 'FLT-SERVICES').filter((r) => r.includes('--dport 53')), []);
    assert.equal(plan().networks.find((n) => n.id === NET_A.id)?.dockerNetwork, `flt-${NET_A.id.slice(0, 10)}`);
  });

  it('sets proxy ARP without delay and loose rp_filter on the bridges, forwarding and br_netfilter', () => {
    const s = new Map(plan().sysctls);
    assert.equal(s.get('net/ipv4/ip_forward'), '1');
    assert.equal(s.get('net/bridge/bridge-nf-call-iptables'), '1');
    assert.equal(s.get(`net/ipv4/conf/${A_BR}/proxy_arp`), '1');
    assert.equal(s.get(`net/ipv4/neigh/${A_BR}/proxy_delay`), '0');
    assert.equal(s.get(`net/ipv4/conf/${A_BR}/rp_filter`), '2');
    assert.equal(s.get(`net/ipv4/conf/${A_VX}/rp_filter`), '2');
  });

  it('load-balances a 3-endpoint VIP with kube-proxy probabilities, each endpoint chain marking hairpin and DNATing', () => {
    const p = plan();
    const svc = serviceChain('svcweb', NET_A.id);
    const seps = ['t1', 't2', 't3'].map((t) => endpointChain('svcweb', NET_A.id, t));
    assert.ok(rules(p, 'nat', 'FLT-SERVICES').includes(`-d 10.10.0.2/32 -i ${A_BR} -m comment --comment "web on net-aaa" -j ${svc}`));
    assert.deepEqual(rules(p, 'nat', svc), [
      `-m statistic --mode random --probability 0.3333333333 -j ${seps[0]}`,
      `-m statistic --mode random --probability 0.5000000000 -j ${seps[1]}`,
      `-j ${seps[2]}`,
    ]);
    assert.deepEqual(rules(p, 'nat', seps[2] ?? ''), ['-s 10.10.2.2/32 -j MARK --or-mark 0x20000', '-j DNAT --to-destination 10.10.2.2']);
  });

  it('masquerades hairpin and mesh flows, and turns hairpin on for the ports of every bridge', () => {
    const p = plan();
    const post = rules(p, 'nat', 'FLT-POSTROUTING');
    assert.ok(post.includes('-m mark --mark 0x20000/0x20000 -j MASQUERADE'));
    assert.ok(post.includes('-m mark --mark 0x10000/0x10000 -j MASQUERADE --random-fully'));
    assert.deepEqual([...p.hairpinBridges].sort(), [A_BR, B_BR, ING_BR].sort());
  });

  it('publishes ingress ports on every local address: mesh mark, then DNAT to the endpoints’ ingress address and target port', () => {
    const p = plan();
    const ing = ingressChain('svcweb', 'tcp', 8080);
    assert.ok(rules(p, 'nat', 'FLT-SERVICES').includes(`-m addrtype --dst-type LOCAL -p tcp --dport 8080 -m comment --comment "web 8080/tcp" -j ${ing}`));
    assert.deepEqual(rules(p, 'nat', ing), [
      '-j MARK --or-mark 0x10000',
      '-m statistic --mode random --probability 0.3333333333 -p tcp -j DNAT --to-destination 10.255.1.2:80',
      '-m statistic --mode random --probability 0.5000000000 -p tcp -j DNAT --to-destination 10.255.1.3:80',
      '-p tcp -j DNAT --to-destination 10.255.2.2:80',
    ]);
    // No VIP load balancing on ingress itself, and no task↔task traffic over it.
    assert.ok(!rules(p, 'nat', 'FLT-SERVICES').some((r) => r.includes('10.255.0.2')));
    const fwd = rules(p, 'filter', 'FLT-FORWARD');
    assert.ok(fwd.includes(`-i ${vxlanName(NET_INGRESS.id)} -o ${ING_BR} -j ACCEPT`));
    assert.ok(!fwd.includes(`-i ${ING_BR} -o ${ING_BR} -j ACCEPT`));
  });

  it('gives an internal network no egress (no accept out, no masquerade) and rejects a VIP without endpoints', () => {
    const p = plan();
    const fwd = rules(p, 'filter', 'FLT-FORWARD');
    assert.ok(fwd.includes(`-i ${A_BR} -j RETURN`));
    assert.ok(!fwd.includes(`-i ${B_BR} -j RETURN`));
    assert.ok(fwd.includes(`-i ${B_BR} -o ${B_BR} -j ACCEPT`));
    const post = rules(p, 'nat', 'FLT-POSTROUTING');
    assert.ok(post.some((r) => r.startsWith('-s 10.10.0.0/16 ! -d 10.10.0.0/16')));
    assert.ok(!post.some((r) => r.startsWith('-s 10.20.0.0/16')));
    assert.ok(fwd.includes('-d 10.20.0.2/32 -m comment --comment "db on net-bbb: no endpoints" -j REJECT'));
  });

  it('isolates networks: accepts only within one network, then drops everything else to or from an overlay device', () => {
    const fwd = rules(plan(), 'filter', 'FLT-FORWARD');
    const idx = (r: string): number => fwd.indexOf(r);
    assert.ok(!fwd.some((r) => r.includes(`-i ${A_BR} -o ${B_BR}`) || r.includes(`-i ${B_BR} -o ${A_BR}`)));
    for (const drop of ['-o flb-+ -j DROP', '-o flx-+ -j DROP', '-i flx-+ -j DROP']) {
      assert.ok(idx(drop) > idx(`-i ${A_BR} -o ${A_BR} -j ACCEPT`), drop);
      assert.ok(idx(drop) < idx(`-i ${A_BR} -j RETURN`), drop);
    }
    assert.equal(fwd.at(-1), '-i flb-+ -j DROP');
    assert.equal(fwd[0], '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  });

  it('gives the same text for the same map, and inserts the jumps only when missing', () => {
    const first = restoreText(plan(), '');
    assert.equal(restoreText(plan(sampleMap(2)), ''), first);
    assert.match(first, /^-I FORWARD 1 -j DOCKER-USER$/m);
    assert.match(first, /^:DOCKER-USER - \[0:0\]$/m);
    const saved = [
      '*filter',
      ':FORWARD DROP [0:0]',
      ':DOCKER-USER - [0:0]',
      ':FLT-FORWARD - [0:0]',
      '-A FORWARD -j DOCKER-USER',
      '-A DOCKER-USER -j FLT-FORWARD',
      '-A DOCKER-USER -j RETURN',
      'COMMIT',
      '*nat',
      ':FLT-SVC-OLD - [0:0]',
      '-A PREROUTING -j FLT-SERVICES',
      '-A OUTPUT -j FLT-SERVICES',
      '-A POSTROUTING -j FLT-POSTROUTING',
      'COMMIT',
    ].join('\n');
    const again = restoreText(plan(), saved);
    assert.doesNotMatch(again, /^-I /m);
    assert.doesNotMatch(again, /DOCKER-USER - \[0:0\]/); // never flushes Docker's chain
    assert.match(again, /^:FLT-SVC-OLD - \[0:0\]\n(?:.*\n)*?-X FLT-SVC-OLD$/m);
  });

  it('rewrites only the chains a membership change touches, given what it applied last', () => {
    const before = plan();
    const after = plan(sampleMap(), new Set(['t2']));
    // The kernel holds `before` (every chain it declared).
    const saved = ['*filter', ...before.filter.map((c) => `:${c.name} - [0:0]`), 'COMMIT', '*nat', ...before.nat.map((c) => `:${c.name} - [0:0]`), 'COMMIT'].join('\n');
    const text = restoreText(after, saved, before);
    const declared = [...text.matchAll(/^:(\S+) - \[0:0\]$/gm)].map((m) => m[1]);
    assert.ok(declared.includes(serviceChain('svcweb', NET_A.id)), 'the service chain that lost an endpoint is rewritten');
    assert.ok(declared.includes(endpointChain('svcweb', NET_A.id, 't2')), 'the endpoint chain that went is removed');
    assert.ok(!declared.includes(endpointChain('svcweb', NET_A.id, 't1')), 'an unchanged endpoint chain is left alone');
    assert.ok(!declared.includes('FLT-FORWARD') || before.filter.find((c) => c.name === 'FLT-FORWARD')?.rules.join() !== after.filter.find((c) => c.name === 'FLT-FORWARD')?.rules.join());
    // Without the last applied plan (the periodic full apply), every chain is written.
    const full = restoreText(after, saved);
    for (const c of after.nat) assert.match(full, new RegExp(`^:${c.name} - \\[0:0\\]$`, 'm'));
  });

  it('drops a gone task from every load balancer, and its UDP flows from the plan', () => {
    const p = plan(sampleMap(), new Set(['t2']));
    const svc = serviceChain('svcweb', NET_A.id);
    assert.equal(rules(p, 'nat', svc).length, 2);
    assert.ok(!p.nat.some((c) => c.name === endpointChain('svcweb', NET_A.id, 't2')));
    assert.ok(!p.udpFlows.some((f) => f.replySrc === '10.10.1.3'));
    assert.ok(!rules(p, 'nat', ingressChain('svcweb', 'tcp', 8080)).some((r) => r.includes('10.255.1.3')));
  });

  it('plans UDP mesh flows by published port and leaves out encrypted networks', () => {
    const enc = mapNetwork('eeeeeeeeeeee', '10.30.0.0/16', 0x100003, { encrypted: true });
    const map: NetworkMap = {
      revision: 1,
      networks: [NET_INGRESS, enc],
      services: [
        service('svcdns', 'dns', {
          ingressPorts: [{ published: 5353, target: 53, protocol: 'udp' }],
          endpoints: [endpoint('u1', 'n2', [NET_INGRESS.id, '10.255.2.9/16'])],
        }),
      ],
    };
    const p = plan(map);
    assert.deepEqual(p.udpFlows, [{ origPortDst: 5353, replySrc: '10.255.2.9' }]);
    assert.deepEqual(p.networks.map((n) => n.id), [NET_INGRESS.id]);
  });
});
