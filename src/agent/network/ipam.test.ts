import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { HostIpam, isIpamError } from './ipam.ts';

void describe('HostIpam', () => {
  void test('gives the lowest free offset from 2, idempotent per network and task', () => {
    const ipam = new HostIpam();
    assert.equal(ipam.reserve('n1', '10.0.3.0/24', 't1'), '10.0.3.2');
    assert.equal(ipam.reserve('n1', '10.0.3.0/24', 't2'), '10.0.3.3');
    assert.equal(ipam.reserve('n1', '10.0.3.0/24', 't1'), '10.0.3.2');
    // Another network: its own slice, its own table.
    assert.equal(ipam.reserve('n2', '10.1.7.0/24', 't1'), '10.1.7.2');
    ipam.release('t1');
    assert.equal(ipam.reserve('n1', '10.0.3.0/24', 't3'), '10.0.3.2');
    assert.deepEqual(ipam.addressesOf('t1'), []);
    ipam.release('t1');
    ipam.release('never-seen');
  });

  void test('a full slice is an error naming the slice and the network', () => {
    const ipam = new HostIpam();
    // A /28: offsets 2 … 14 are tasks' (13 addresses).
    const got = Array.from({ length: 13 }, (_, i) => ipam.reserve('n1', '10.0.0.16/28', `t${i}`, 'appnet'));
    assert.equal(got[0], '10.0.0.18');
    assert.equal(got.at(-1), '10.0.0.30');
    assert.throws(
      () => ipam.reserve('n1', '10.0.0.16/28', 'one-more', 'appnet'),
      (e) => isIpamError(e) && e.code === 'exhausted' && e.message === "no free address in this node's slice 10.0.0.16/28 of network appnet",
    );
    ipam.release('t4');
    assert.equal(ipam.reserve('n1', '10.0.0.16/28', 'one-more'), '10.0.0.22');
  });

  void test('restore keeps recovered addresses: no new task gets them', () => {
    const ipam = new HostIpam();
    const skipped = ipam.restore([
      { taskId: 'old1', networkId: 'n1', ip: '10.0.3.2' },
      { taskId: 'old2', networkId: 'n1', ip: '10.0.3.4' },
      { taskId: 'old2', networkId: 'n2', ip: '10.1.7.9' },
      { taskId: 'clash', networkId: 'n1', ip: '10.0.3.4' },
      { taskId: 'bad', networkId: 'n1', ip: 'nonsense' },
    ]);
    assert.deepEqual(skipped.map((e) => e.taskId), ['clash', 'bad']);
    assert.equal(ipam.reserve('n1', '10.0.3.0/24', 'old1'), '10.0.3.2');
    assert.equal(ipam.reserve('n1', '10.0.3.0/24', 'new1'), '10.0.3.3');
    assert.equal(ipam.reserve('n1', '10.0.3.0/24', 'new2'), '10.0.3.5');
  });

  void test('an address names its task and every network of that task', () => {
    const ipam = new HostIpam();
    ipam.reserve('n1', '10.0.3.0/24', 't1');
    ipam.reserve('n2', '10.1.7.0/24', 't1');
    ipam.reserve('n2', '10.1.7.0/24', 't2');
    assert.deepEqual(ipam.ownerOf('10.1.7.2'), { taskId: 't1', networkId: 'n2', networks: ['n1', 'n2'] });
    assert.deepEqual(ipam.networksOf('10.0.3.2'), ['n1', 'n2']);
    assert.deepEqual(ipam.networksOf('10.1.7.3'), ['n2']);
    assert.deepEqual(ipam.networksOf('10.1.7.99'), []);
    assert.deepEqual(ipam.networksOf('not an ip'), []);
    ipam.release('t1');
    assert.equal(ipam.ownerOf('10.0.3.2'), undefined);
  });

  void test('an address outside a changed slice is given up for one inside it', () => {
    const ipam = new HostIpam();
    ipam.reserve('n1', '10.0.3.0/24', 't1');
    assert.equal(ipam.reserve('n1', '10.0.4.0/24', 't1'), '10.0.4.2');
    assert.equal(ipam.ownerOf('10.0.3.2'), undefined);
  });

  void test('an attachable network\'s container range is never given to a task', () => {
    const ipam = new HostIpam();
    // A /28 slice: offsets 2…11 for tasks, 12…15 (the last quarter) are Docker's.
    for (let i = 2; i <= 11; i++) assert.equal(ipam.reserve('n1', '10.9.0.16/28', `t${i}`, 'shared', '10.9.0.28/30'), `10.9.0.${16 + i}`);
    assert.throws(() => ipam.reserve('n1', '10.9.0.16/28', 'one-more', 'shared', '10.9.0.28/30'), (e) => isIpamError(e) && e.code === 'exhausted');
  });
});
