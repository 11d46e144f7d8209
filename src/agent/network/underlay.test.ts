import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DEFAULT_UNDERLAY_TARGET, describeNetwork, detectUnderlay, type UnderlayDeps } from './underlay.ts';

/** An `ip` that answers from a table (`args joined by spaces` → JSON), failing for anything else. */
function fakeIp(answers: Record<string, unknown>, calls: string[] = []): NonNullable<UnderlayDeps['ip']> {
  return (args) => {
    const key = args.join(' ');
    calls.push(key);
    return key in answers ? Promise.resolve(JSON.stringify(answers[key])) : Promise.reject(new Error(`ip ${key}: RTNETLINK answers: Network is unreachable`));
  };
}

const ETH0 = { '-j link show dev eth0': [{ ifname: 'eth0', mtu: 1400 }] };

void describe('underlay', () => {
  void it('is the source address and device of the route to the manager, with its MTU', async () => {
    const calls: string[] = [];
    const ip = fakeIp({ '-j route get 192.0.2.10': [{ dst: '192.0.2.10', dev: 'eth0', prefsrc: '192.0.2.2' }], ...ETH0 }, calls);
    assert.deepEqual(await detectUnderlay('192.0.2.10', { ip }), { addr: '192.0.2.2', dev: 'eth0', mtu: 1400 });
    assert.deepEqual(calls, ['-j route get 192.0.2.10', '-j link show dev eth0']);
  });

  void it('resolves a manager host name, and uses the default route without a target', async () => {
    const ip = fakeIp({
      '-j route get 192.0.2.10': [{ dev: 'eth0', prefsrc: '192.0.2.2' }],
      [`-j route get ${DEFAULT_UNDERLAY_TARGET}`]: [{ gateway: '192.0.2.1', dev: 'eth0', prefsrc: '192.0.2.3' }],
      ...ETH0,
    });
    assert.equal((await detectUnderlay('manager.example', { ip, resolve: () => Promise.resolve('192.0.2.10') }))?.addr, '192.0.2.2');
    assert.equal((await detectUnderlay(undefined, { ip }))?.addr, '192.0.2.3');
    assert.equal((await detectUnderlay('nowhere.example', { ip, resolve: () => Promise.reject(new Error('ENOTFOUND')) }))?.addr, '192.0.2.3', 'unresolvable: the default route');
    assert.equal((await detectUnderlay('2001:db8::1', { ip }))?.addr, '192.0.2.3', 'an IPv6 manager: the default route');
  });

  void it('takes the device that holds the address when the manager is on this host', async () => {
    const ip = fakeIp({
      '-j route get 192.0.2.2': [{ type: 'local', dev: 'lo', prefsrc: '192.0.2.2' }],
      '-j -4 addr show to 192.0.2.2/32': [{ ifname: 'eth0', mtu: 1400, addr_info: [{ local: '192.0.2.2' }] }],
    });
    assert.deepEqual(await detectUnderlay('192.0.2.2', { ip }), { addr: '192.0.2.2', dev: 'eth0', mtu: 1400 });
  });

  void it('falls back to the default route from a manager on loopback', async () => {
    const ip = fakeIp({
      '-j route get 127.0.0.1': [{ type: 'local', dev: 'lo', prefsrc: '127.0.0.1' }],
      [`-j route get ${DEFAULT_UNDERLAY_TARGET}`]: [{ dev: 'eth0', prefsrc: '192.0.2.3' }],
      ...ETH0,
    });
    assert.deepEqual(await detectUnderlay('127.0.0.1', { ip }), { addr: '192.0.2.3', dev: 'eth0', mtu: 1400 });
    const onlyLoopback = fakeIp({ '-j route get 127.0.0.1': [{ type: 'local', dev: 'lo', prefsrc: '127.0.0.1' }] });
    assert.equal(await detectUnderlay('127.0.0.1', { ip: onlyLoopback }), undefined);
  });

  void it('is undefined without a route, without ip, or on answers that make no sense', async () => {
    assert.equal(await detectUnderlay('192.0.2.10', { ip: fakeIp({}) }), undefined, 'unreachable');
    const missing = Object.assign(new Error('spawn ip ENOENT'), { code: 'ENOENT' });
    assert.equal(await detectUnderlay(undefined, { ip: () => Promise.reject(missing) }), undefined, 'no ip');
    const garbage = (out: string): NonNullable<UnderlayDeps['ip']> => () => Promise.resolve(out);
    assert.equal(await detectUnderlay(undefined, { ip: garbage('not json') }), undefined);
    assert.equal(await detectUnderlay(undefined, { ip: garbage('[]') }), undefined);
    const noMtu = fakeIp({ [`-j route get ${DEFAULT_UNDERLAY_TARGET}`]: [{ dev: 'eth0', prefsrc: '192.0.2.3' }], '-j link show dev eth0': [{ ifname: 'eth0' }] });
    assert.equal(await detectUnderlay(undefined, { ip: noMtu }), undefined);
  });

  void it('describes the data plane: the underlay address and MTU, no encryption', () => {
    assert.deepEqual(describeNetwork({ addr: '192.0.2.2', dev: 'eth0', mtu: 1400 }), { underlay: '192.0.2.2', mtu: 1400, encryption: 'none' });
    const none = describeNetwork(undefined);
    assert.equal(none.underlay, undefined);
    assert.equal(none.encryption, 'none');
    assert.match(none.unavailable ?? '', /no underlay/);
  });

  void it("reads this host's underlay with the real ip (read-only)", async (t) => {
    const hasIp = await promisify(execFile)('ip', ['-V']).then(
      () => true,
      () => false,
    );
    if (!hasIp) return t.skip('no ip command here');
    const u = await detectUnderlay();
    if (!u) return t.skip('no IPv4 default route here');
    assert.ok(/^\d+\.\d+\.\d+\.\d+$/.test(u.addr), u.addr);
    assert.ok(u.dev.length > 0 && u.dev !== 'lo');
    assert.ok(u.mtu >= 576);
    assert.deepEqual(await detectUnderlay('127.0.0.1'), u, 'a manager on loopback: the default route');
    assert.deepEqual(await detectUnderlay(u.addr), u, 'a manager on this host: the same');
  });
});
