import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Prng } from './prng.ts';

void describe('Prng', () => {
  void it('gives the same sequence for the same seed, another for another', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const c = new Prng(43);
    const seq = (p: Prng): number[] => Array.from({ length: 20 }, () => p.int(0, 1_000_000));
    const sa = seq(a);
    assert.deepEqual(seq(b), sa);
    assert.notDeepEqual(seq(c), sa);
  });

  void it('keeps int() within its bounds, both reached', () => {
    const p = new Prng(7);
    const seen = new Set<number>();
    for (let i = 0; i < 2_000; i++) {
      const n = p.int(3, 6);
      assert.ok(n >= 3 && n <= 6, `${n} out of 3…6`);
      seen.add(n);
    }
    assert.deepEqual([...seen].sort(), [3, 4, 5, 6]);
  });

  void it('reads a seed from text, or makes one', () => {
    assert.equal(Prng.seedFrom('12345'), 12345);
    assert.throws(() => Prng.seedFrom('x'), /invalid seed "x"/);
    assert.throws(() => Prng.seedFrom('-1'), /invalid seed/);
    const made = Prng.seedFrom(undefined);
    assert.ok(Number.isInteger(made) && made >= 0 && made <= 0xffff_ffff);
  });

  void it('picks from a list and refuses an empty one', () => {
    const p = new Prng(1);
    assert.ok(['a', 'b'].includes(p.pick(['a', 'b'])));
    assert.throws(() => p.pick([]), /empty/);
  });
});
