import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cidr, formatCidr } from '../../lib/cidr.ts';
import { makeNetwork } from '../../testing/network-fixtures.ts';
import { addressOf, nextSlice, nextVip, planSlices, sliceIndex, vipBlock } from './ipam.ts';

const front = makeNetwork({ subnet: '10.1.0.0/16' });
const small = makeNetwork({ subnet: '10.9.0.0/24', spec: { name: 'small' } });
const none = (): boolean => false;

void test('the VIP block is sub-range 0: a /24 of a /16, a /28 of a /24', () => {
  assert.equal(formatCidr(vipBlock(front)), '10.1.0.0/24');
  assert.equal(formatCidr(vipBlock(small)), '10.9.0.0/28');
});

void test('slices: lowest free index from 1, gaps filled first', () => {
  assert.deepEqual(nextSlice(front), { ok: true, value: '10.1.1.0/24' });
  const held = { ...front, slices: [{ nodeId: 'a', subnet: '10.1.1.0/24' }, { nodeId: 'c', subnet: '10.1.3.0/24' }] };
  assert.deepEqual(nextSlice(held), { ok: true, value: '10.1.2.0/24' });
  assert.equal(sliceIndex(cidr(front.subnet), '10.1.3.0/24'), 3);
  assert.equal(sliceIndex(cidr(front.subnet), '10.2.3.0/24'), undefined, 'outside the range');
  assert.equal(sliceIndex(cidr(front.subnet), '10.1.3.0/25'), undefined, 'not a slice length');
});

void test('slices: a /24 network has 15 slices of /28 for nodes, then a clear refusal', () => {
  let net = small;
  const got: string[] = [];
  for (let i = 0; i < 15; i++) {
    const r = nextSlice(net);
    assert.ok(r.ok, `slice ${i + 1}`);
    got.push(r.value);
    net = { ...net, slices: [...net.slices, { nodeId: `n${i}`, subnet: r.value }] };
  }
  assert.equal(got[0], '10.9.0.16/28');
  assert.equal(got[14], '10.9.0.240/28');
  assert.equal(new Set(got).size, 15);
  assert.deepEqual(nextSlice(net), {
    ok: false,
    reason: 'network small has no free address range for another node (15 nodes hold one)',
  });
});

void test('planSlices: keeps slices, adds the wanted in order, drops nodes gone, reports the refused', () => {
  const net = { ...small, slices: [{ nodeId: 'gone', subnet: '10.9.0.16/28' }, { nodeId: 'a', subnet: '10.9.0.32/28' }] };
  const live = new Set(['a', 'b', 'c']);
  const p = planSlices(net, ['b', 'a', 'x', 'c'], live);
  assert.equal(p.changed, true);
  assert.deepEqual(p.slices, [
    { nodeId: 'a', subnet: '10.9.0.32/28' },
    { nodeId: 'b', subnet: '10.9.0.16/28' },
    { nodeId: 'c', subnet: '10.9.0.48/28' },
  ], 'the removed node’s slice is free again; x is not in the cluster');
  assert.equal(p.refused, undefined);
  assert.equal(planSlices({ ...net, slices: p.slices }, ['a', 'b', 'c'], live).changed, false, 'nothing to do twice');

  const full = { ...small, slices: Array.from({ length: 15 }, (_, i) => ({ nodeId: `n${i}`, subnet: `10.9.0.${(i + 1) * 16}/28` })) };
  const r = planSlices(full, ['n0', 'late'], new Set(['late', ...full.slices.map((s) => s.nodeId)]));
  assert.equal(r.changed, false);
  assert.deepEqual(r.refused, { nodeIds: ['late'], reason: 'network small has no free address range for another node (15 nodes hold one)' });
});

void test('VIPs: lowest free offset of the VIP block, with the network prefix', () => {
  assert.deepEqual(nextVip(front, none), { ok: true, value: '10.1.0.1/16' });
  const taken = new Set([addressOf('10.1.0.1/16'), addressOf('10.1.0.3/16')]);
  assert.deepEqual(nextVip(front, (ip) => taken.has(ip)), { ok: true, value: '10.1.0.2/16' });
});

void test('VIPs: a /24 network has 14, then "no free virtual IP"', () => {
  const taken = new Set<number>();
  const got: string[] = [];
  for (;;) {
    const r = nextVip(small, (ip) => taken.has(ip));
    if (!r.ok) {
      assert.equal(r.reason, 'network small has no free virtual IP');
      break;
    }
    got.push(r.value);
    taken.add(addressOf(r.value) as number);
  }
  assert.equal(got.length, 14);
  assert.equal(got[0], '10.9.0.1/24');
  assert.equal(got[13], '10.9.0.14/24', 'the block’s last address is kept');
});
