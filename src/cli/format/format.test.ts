import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { table, truncate } from './table.ts';
import { ago, humanDuration } from './time.ts';

describe('table', () => {
  it('aligns columns with three spaces and no trailing spaces', () => {
    assert.equal(table(['ID', 'NAME'], [['abc', 'web'], ['d', '']]), 'ID    NAME\nabc   web\nd\n');
  });
  it('truncates with an ellipsis', () => {
    assert.equal(truncate('abcdef', 4), 'abc…');
    assert.equal(truncate('abc', 4), 'abc');
  });
});

describe('humanDuration', () => {
  const s = 1000;
  const cases: Array<[number, string]> = [
    [500, 'Less than a second'],
    [1 * s, '1 second'],
    [42 * s, '42 seconds'],
    [60 * s, 'About a minute'],
    [2 * 60 * s, '2 minutes'],
    [59 * 60 * s, '59 minutes'],
    [60 * 60 * s, 'About an hour'],
    [3 * 3600 * s, '3 hours'],
    [3 * 86400 * s, '3 days'],
    [20 * 86400 * s, '2 weeks'],
    [90 * 86400 * s, '3 months'],
    [800 * 86400 * s, '2 years'],
  ];
  for (const [ms, text] of cases) it(`${ms} ms → ${text}`, () => assert.equal(humanDuration(ms), text));
  it('says "ago" relative to now', () => {
    assert.equal(ago('2026-01-01T00:00:00.000Z', Date.parse('2026-01-01T00:02:00.000Z')), '2 minutes ago');
  });
});
