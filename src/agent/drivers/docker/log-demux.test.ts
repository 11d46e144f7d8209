import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { encodeFrame, LogDemuxer } from './log-demux.ts';

const TS = '2026-01-02T03:04:05.123456789Z';

void test('demultiplexes frames into lines with streams and times', () => {
  const d = new LogDemuxer({ timestamps: true });
  const bytes = Buffer.concat([
    encodeFrame('stdout', `${TS} hello\n`),
    encodeFrame('stderr', `${TS} oops\n`),
    encodeFrame('stdout', `${TS} world\r\n`),
  ]);
  assert.deepEqual(d.push(bytes), [
    { stream: 'stdout', line: 'hello', time: '2026-01-02T03:04:05.123Z' },
    { stream: 'stderr', line: 'oops', time: '2026-01-02T03:04:05.123Z' },
    { stream: 'stdout', line: 'world', time: '2026-01-02T03:04:05.123Z' },
  ]);
  assert.deepEqual(d.end(), []);
});

void test('a line split over frames (a long line) keeps the first frame’s time; end() flushes', () => {
  const d = new LogDemuxer({ timestamps: true });
  const out = d.push(Buffer.concat([
    encodeFrame('stdout', `${TS} part one, `),
    encodeFrame('stdout', `2026-01-02T03:04:06Z part two\n`),
    encodeFrame('stderr', `${TS} no newline`),
  ]));
  assert.deepEqual(out, [{ stream: 'stdout', line: 'part one, part two', time: '2026-01-02T03:04:05.123Z' }]);
  assert.deepEqual(d.end(), [{ stream: 'stderr', line: 'no newline', time: '2026-01-02T03:04:05.123Z' }]);
});

void test('any split of the byte stream gives the same lines (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom('stdout' as const, 'stderr' as const), fc.string({ unit: 'grapheme' })), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (frames, cuts) => {
        const lines = frames.map(([s, text]) => [s, text.replace(/[\r\n]/g, ' ')] as const);
        const bytes = Buffer.concat(lines.map(([s, text]) => encodeFrame(s, `${TS} ${text}\n`)));
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const d = new LogDemuxer({ timestamps: true });
        const got = [];
        let at = 0;
        for (const p of [...points, bytes.length]) {
          got.push(...d.push(bytes.subarray(at, p)));
          at = p;
        }
        got.push(...d.end());
        assert.deepEqual(got.map((l) => [l.stream, l.line]), lines.map(([s, t]) => [s, t]));
      },
    ),
  );
});
