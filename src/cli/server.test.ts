import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseAdvertiseAddr, parseLifetime, parseListenAddr } from './server.ts';

describe('flotilla server flags', () => {
  it('--listen-addr defaults to 0.0.0.0:4280 and takes HOST[:PORT]', () => {
    assert.deepEqual(parseListenAddr(undefined), { host: '0.0.0.0', port: 4280 });
    assert.deepEqual(parseListenAddr('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
    assert.deepEqual(parseListenAddr('10.0.0.1'), { host: '10.0.0.1', port: 4280 });
    assert.throws(() => parseListenAddr('a:b:c'), /invalid --listen-addr "a:b:c": expected HOST\[:PORT\]/);
  });

  it('--cert-lifetime takes days and Go durations', () => {
    assert.equal(parseLifetime('90d'), 90 * 86_400_000);
    assert.equal(parseLifetime('30s'), 30_000);
    assert.equal(parseLifetime('1h30m'), 5_400_000);
    assert.throws(() => parseLifetime('10ms'), /at least 1s/);
    assert.throws(() => parseLifetime('soon'), /invalid --cert-lifetime "soon"/);
  });

  it('advertises the flag, else a specific listen host, else the only IPv4 address', () => {
    const one = { eth0: [{ address: '10.1.2.3', family: 'IPv4', internal: false }], lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }] } as never;
    const two = { eth0: [{ address: '10.1.2.3', family: 'IPv4', internal: false }], eth1: [{ address: '192.168.0.2', family: 'IPv4', internal: false }] } as never;
    const any = { host: '0.0.0.0', port: 4280 };
    assert.equal(chooseAdvertiseAddr('10.9.9.9', any, two), '10.9.9.9');
    assert.equal(chooseAdvertiseAddr('10.9.9.9:4280', any, two), '10.9.9.9');
    assert.equal(chooseAdvertiseAddr(undefined, { host: '127.0.0.1', port: 1 }, two), '127.0.0.1');
    assert.equal(chooseAdvertiseAddr(undefined, any, one), '10.1.2.3');
    assert.throws(() => chooseAdvertiseAddr(undefined, any, two), /several addresses \(10\.1\.2\.3, 192\.168\.0\.2\): choose .* --advertise-addr/);
    assert.throws(() => chooseAdvertiseAddr(undefined, any, {} as never), /no network address to advertise: pass --advertise-addr/);
  });
});
