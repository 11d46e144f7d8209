import assert from 'node:assert/strict';
import { test } from 'node:test';
import { at, cidr, contains, formatCidr, formatIp, overlaps, parseCidr, parseIp, subrange } from './cidr.ts';

test('parses and formats addresses', () => {
  assert.equal(parseIp('10.0.3.1'), 0x0a000301);
  assert.equal(formatIp(0xffffffff), '255.255.255.255');
  for (const bad of ['10.0.3', '10.0.3.256', '10.0.03.1', 'a.b.c.d', '1.2.3.4.5', '']) assert.equal(parseIp(bad), undefined, bad);
});

test('parses CIDR ranges with a reason for each refusal', () => {
  assert.deepEqual(parseCidr('10.1.0.0/16'), { ok: true, cidr: { base: 0x0a010000, prefix: 16 } });
  const cases: Array<[string, RegExp]> = [
    ['10.1.0.0', /expected ADDRESS\/PREFIX/],
    ['10.1.0.1/16', /host bits set: did you mean 10\.1\.0\.0\/16\?/],
    ['10.1.0.0/33', /prefix length must be 0 to 32/],
    ['10.1.0.0/x', /prefix length/],
    ['10.1.0/16', /not an IPv4 address/],
  ];
  for (const [text, re] of cases) {
    const r = parseCidr(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.error, re);
  }
});

test('containment, overlap, sub-ranges and offsets', () => {
  const n = cidr('10.0.0.0/16');
  assert.ok(contains(n, parseIp('10.0.255.255') ?? 0));
  assert.ok(!contains(n, parseIp('10.1.0.0') ?? 0));
  assert.ok(overlaps(n, cidr('10.0.128.0/17')));
  assert.ok(overlaps(cidr('10.0.0.0/8'), n));
  assert.ok(!overlaps(n, cidr('10.1.0.0/16')));
  assert.equal(formatCidr(subrange(n, 24, 3)), '10.0.3.0/24');
  assert.throws(() => subrange(n, 24, 256), RangeError);
  assert.equal(formatIp(at(subrange(n, 24, 3), 1)), '10.0.3.1');
  assert.equal(formatCidr(subrange(cidr('0.0.0.0/0'), 1, 1)), '128.0.0.0/1');
});
