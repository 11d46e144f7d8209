import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMetricsAddr } from './metrics-addr.ts';

void describe('--metrics-addr', () => {
  void it('defaults to loopback port 4281, takes HOST:PORT, :PORT, PORT and off, and says what is valid', () => {
    assert.deepEqual(parseMetricsAddr(undefined), { host: '127.0.0.1', port: 4281 });
    assert.deepEqual(parseMetricsAddr('0.0.0.0:9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(parseMetricsAddr(':9100'), { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseMetricsAddr('[::1]:9100'), { host: '::1', port: 9100 });
    assert.equal(parseMetricsAddr('off'), undefined);
    assert.throws(() => parseMetricsAddr('somewhere'), /invalid --metrics-addr "somewhere": expected HOST:PORT/);
    assert.throws(() => parseMetricsAddr('1.2.3.4:70000'), /invalid --metrics-addr/);
  });
});
