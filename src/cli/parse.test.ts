import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isUsageError, parseBytes, parseCpus, parseDuration, parseKeyValue, parsePublish } from './parse.ts';

describe('flag value parsers', () => {
  it('reads sizes with binary units, as docker does', () => {
    assert.equal(parseBytes('512M', '--limit-memory'), 512 * 1024 ** 2);
    assert.equal(parseBytes('1.5g', '--limit-memory'), 1.5 * 1024 ** 3);
    assert.equal(parseBytes('64mb', '--limit-memory'), 64 * 1024 ** 2);
    assert.equal(parseBytes('1024', '--limit-memory'), 1024);
    assert.throws(() => parseBytes('12Q', '--limit-memory'), (e) => isUsageError(e) && /--limit-memory "12Q"/.test(e.message));
  });
  it('reads CPUs as nanoCPUs', () => {
    assert.equal(parseCpus('0.5', '--limit-cpu'), 500_000_000);
    assert.equal(parseCpus('2', '--limit-cpu'), 2_000_000_000);
    assert.throws(() => parseCpus('half', '--limit-cpu'), isUsageError);
  });
  it('reads Go-style durations', () => {
    assert.equal(parseDuration('5s', '--restart-delay'), 5000);
    assert.equal(parseDuration('1m30s', '--restart-delay'), 90_000);
    assert.equal(parseDuration('250ms', '--restart-delay'), 250);
    assert.equal(parseDuration('0', '--restart-delay'), 0);
    assert.throws(() => parseDuration('10', '--restart-delay'), isUsageError);
    assert.throws(() => parseDuration('5sx', '--restart-delay'), isUsageError);
  });
  it('reads KEY=VALUE', () => {
    assert.deepEqual(parseKeyValue('a=b=c', '--env'), ['a', 'b=c']);
    assert.deepEqual(parseKeyValue('flag', '--label'), ['flag', '']);
    assert.throws(() => parseKeyValue('=x', '--label'), isUsageError);
  });
  it('reads --publish in long and short form', () => {
    assert.deepEqual(parsePublish('mode=host,published=8080,target=80,protocol=udp'), {
      port: { target: 80, published: 8080, protocol: 'udp', mode: 'host' },
      short: false,
    });
    // The short form leaves the mode to the schema's default.
    assert.deepEqual(parsePublish('8080:80'), { port: { published: 8080, target: 80 }, short: true });
    assert.equal(parsePublish('published=80,target=80,mode=ingress').port.mode, 'ingress');
    // What the CLI cannot judge goes to the server as written.
    assert.deepEqual(parsePublish('published=x,target=80').port.published, 'x');
    assert.throws(() => parsePublish('8080'), isUsageError);
    assert.throws(() => parsePublish('published=1,target=2,color=red'), isUsageError);
    assert.throws(() => parsePublish('published=1'), isUsageError);
  });
});
