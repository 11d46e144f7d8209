import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Network, NetworkSpec } from './network.ts';
import { chooseRange } from './network-ranges.ts';

function spec(name: string, subnet?: string): NetworkSpec {
  return { name, labels: {}, driver: 'overlay', internal: false, attachable: false, encrypted: false, ...(subnet === undefined ? {} : { subnet }) };
}
function net(name: string, subnet: string, vni: number): Network {
  return { id: `id-${name}`, version: 1, createdAt: '', updatedAt: '', spec: spec(name), subnet, vni, ingress: false, slices: [] };
}

test('a network without a subnet gets the first free /16 of the pool and the lowest free VNI', () => {
  assert.deepEqual(chooseRange(spec('a'), []), { ok: true, subnet: '10.0.0.0/16', vni: 0x100000 });
  const existing = [net('x', '10.0.0.0/16', 0x100000), net('y', '10.1.0.0/20', 0x100002)];
  assert.deepEqual(chooseRange(spec('a'), existing), { ok: true, subnet: '10.2.0.0/16', vni: 0x100001 });
});

test('a given subnet is taken as is when it is valid and free', () => {
  assert.deepEqual(chooseRange(spec('a', '172.28.0.0/16'), [net('x', '10.0.0.0/16', 0x100000)]), { ok: true, subnet: '172.28.0.0/16', vni: 0x100001 });
});

test('a bad or overlapping subnet is refused with the reason', () => {
  const existing = [net('backend', '10.0.0.0/16', 0x100000)];
  const cases: Array<[string, RegExp]> = [
    ['10.0.128.0/17', /subnet 10\.0\.128\.0\/17 overlaps network backend \(10\.0\.0\.0\/16\)/],
    ['10.9.0.1/16', /host bits set: did you mean 10\.9\.0\.0\/16\?/],
    ['10.9.0.0/28', /prefix length must be \/8 to \/24/],
    ['nonsense', /not a CIDR range/],
    ['127.1.0.0/16', /overlaps 127\.0\.0\.0\/8 \(loopback\)/],
    ['169.254.0.0/16', /link-local/],
    ['224.0.0.0/8', /multicast/],
  ];
  for (const [subnet, re] of cases) {
    const r = chooseRange(spec('a', subnet), existing);
    assert.equal(r.ok, false, subnet);
    if (!r.ok) assert.match(r.reason, re);
  }
});

test('a full pool asks for a subnet', () => {
  const r = chooseRange(spec('a'), [net('all', '10.0.0.0/8', 0x100000)]);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.reason, /no free \/16 left: give the network a --subnet/);
});
