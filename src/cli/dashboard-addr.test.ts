import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDashboardAddr } from './dev.ts';
import { UsageError } from './parse.ts';

describe('flotilla dev --dashboard-addr', () => {
  it('defaults to 127.0.0.1:4280, takes loopback addresses and port 0, and off', () => {
    assert.deepEqual(parseDashboardAddr(undefined), { host: '127.0.0.1', port: 4280 });
    assert.deepEqual(parseDashboardAddr('127.0.0.2:8080'), { host: '127.0.0.2', port: 8080 });
    assert.deepEqual(parseDashboardAddr('localhost:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseDashboardAddr('[::1]:4280'), { host: '::1', port: 4280 });
    assert.deepEqual(parseDashboardAddr(':9000'), { host: '127.0.0.1', port: 9000 });
    assert.equal(parseDashboardAddr('off'), undefined);
  });

  it('refuses an address beyond this host: the dev API behind it is trusted', () => {
    for (const bad of ['0.0.0.0:4280', '10.0.0.5:4280', 'example.com:80', '127.0.0.1:99999', 'nonsense']) {
      assert.throws(() => parseDashboardAddr(bad), (e: unknown) => e instanceof UsageError && /loopback/.test(e.message), bad);
    }
  });
});
