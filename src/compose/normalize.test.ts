import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PortMapping } from './model.ts';
import { parsePortShort } from './ports.ts';
import { splitShellWords } from './shell-words.ts';
import { formatDurationMs, parseBytes, parseCpus, parseDurationMs } from './units.ts';
import { parseVolumeShort } from './volumes.ts';

describe('short syntax → long syntax', () => {
  it('ports: single, published, host IP, protocol, ranges', () => {
    assert.deepEqual(parsePortShort('80'), [{ mode: 'ingress', target: 80, protocol: 'tcp' }]);
    assert.deepEqual(parsePortShort('8080:80/udp'), [{ mode: 'ingress', target: 80, published: '8080', protocol: 'udp' }]);
    assert.deepEqual(parsePortShort('127.0.0.1:5000:5000'), [{ mode: 'ingress', host_ip: '127.0.0.1', target: 5000, published: '5000', protocol: 'tcp' }]);
    assert.deepEqual(parsePortShort('[::1]:6001:6001'), [{ mode: 'ingress', host_ip: '::1', target: 6001, published: '6001', protocol: 'tcp' }]);
    assert.deepEqual((parsePortShort('9090-9091:8080-8081') as PortMapping[]).map((p) => `${p.published}:${p.target}`), ['9090:8080', '9091:8081']);
    assert.deepEqual((parsePortShort('3000-3002') as PortMapping[]).map((p) => p.target), [3000, 3001, 3002]);
    assert.deepEqual(parsePortShort('8000-9000:80'), [{ mode: 'ingress', target: 80, published: '8000-9000', protocol: 'tcp' }]);
    assert.match(parsePortShort('80:80:80:80') as string, /^invalid port/);
    assert.match(parsePortShort('1-3:1-2') as string, /differ in size/);
    assert.match(parsePortShort('http') as string, /^invalid port "http"/);
    assert.match(parsePortShort('70000') as string, /^invalid port/);
  });
  it('volumes: named, bind (relative, home), anonymous, modes', () => {
    assert.deepEqual(parseVolumeShort('data:/var/lib/x:ro', '/p', '/home/u'), { type: 'volume', source: 'data', target: '/var/lib/x', read_only: true, volume: {} });
    assert.deepEqual(parseVolumeShort('./site:/www', '/p', '/home/u'), { type: 'bind', source: '/p/site', target: '/www', bind: { create_host_path: true } });
    assert.deepEqual(parseVolumeShort('~/x:/x:ro,z', '/p', '/home/u'), { type: 'bind', source: '/home/u/x', target: '/x', read_only: true, bind: { create_host_path: true, selinux: 'z' } });
    assert.deepEqual(parseVolumeShort('/tmp', '/p', undefined), { type: 'volume', target: '/tmp' });
    assert.deepEqual(parseVolumeShort('cache:/c:nocopy', '/p', undefined), { type: 'volume', source: 'cache', target: '/c', volume: { nocopy: true } });
    assert.match(parseVolumeShort('a:/b:bogus', '/p', undefined) as string, /unknown mode "bogus"/);
    assert.match(parseVolumeShort('a::b', '/p', undefined) as string, /^invalid volume/);
  });
  it('commands split like a shell, without expansion', () => {
    assert.deepEqual(splitShellWords(`sh -c "echo 'hi there' && exit 0"`), ['sh', '-c', "echo 'hi there' && exit 0"]);
    assert.deepEqual(splitShellWords(`a\\ b 'c d' "e\\"f" ""`), ['a b', 'c d', 'e"f', '']);
    assert.deepEqual(splitShellWords('  spaced   out  '), ['spaced', 'out']);
    assert.equal(splitShellWords('"open'), undefined);
  });
  it('units: durations, sizes, CPUs', () => {
    assert.equal(parseDurationMs('1m30s'), 90_000);
    assert.equal(parseDurationMs('500ms'), 500);
    assert.equal(parseDurationMs('1h'), 3_600_000);
    assert.equal(parseDurationMs(0), 0);
    assert.equal(parseDurationMs('10'), undefined);
    assert.equal(formatDurationMs(90_000), '1m30s');
    assert.equal(formatDurationMs(3_600_000), '1h0m0s');
    assert.equal(formatDurationMs(1500), '1.5s');
    assert.equal(formatDurationMs(250), '250ms');
    assert.equal(parseBytes('512M'), 512 * 1024 ** 2);
    assert.equal(parseBytes('1gb'), 1024 ** 3);
    assert.equal(parseBytes(2048), 2048);
    assert.equal(parseBytes('lots'), undefined);
    assert.equal(parseCpus('0.5'), 500_000_000);
    assert.equal(parseCpus(2), 2e9);
    assert.equal(parseCpus('half'), undefined);
  });
});
